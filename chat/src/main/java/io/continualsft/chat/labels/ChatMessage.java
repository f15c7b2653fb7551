package io.continualsft.chat.labels;

import io.continualsft.avro.Message;
import io.continualsft.avro.ToolCall;
import java.util.ArrayList;
import java.util.List;

/**
 * One turn as the labeler sees it. {@code train} null means "follow the policy"; {@code content}
 * is null only on an assistant turn that calls tools; the other fields are null when absent.
 */
public record ChatMessage(String role, String content, Boolean train, String reasoning,
    List<Call> toolCalls, String toolCallId, String name) {

  /** One function call; {@code arguments} is JSON text, parsed when the turn is rendered. */
  public record Call(String id, String type, String name, String arguments) {}

  public ChatMessage(String role, String content, Boolean train) {
    this(role, content, train, null, null, null, null);
  }

  public static ChatMessage of(String role, String content) {
    return new ChatMessage(role, content, null);
  }

  /** The labeler's view of an Avro {@code Message}. */
  public static ChatMessage from(Message m) {
    List<Call> calls = null;
    if (m.getToolCalls() != null) {
      calls = new ArrayList<>(m.getToolCalls().size());
      for (ToolCall c : m.getToolCalls()) {
        calls.add(new Call(c.getId(), c.getType(), c.getFunction().getName(),
            c.getFunction().getArguments()));
      }
    }
    return new ChatMessage(m.getRole(), m.getContent(), m.getTrain(), m.getReasoning(), calls,
        m.getToolCallId(), m.getName());
  }

  boolean hasToolCalls() {
    return toolCalls != null && !toolCalls.isEmpty();
  }
}
