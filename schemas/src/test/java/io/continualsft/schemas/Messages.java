package io.continualsft.schemas;

import io.continualsft.avro.FunctionCall;
import io.continualsft.avro.Message;
import io.continualsft.avro.ToolCall;
import java.util.List;

/**
 * Short constructors for the Avro {@link Message}, whose generated all-fields constructor grows
 * with every optional field the schema gains.
 */
public final class Messages {
  private Messages() {}

  /** A plain turn: role and text, following the training policy. */
  public static Message of(String role, String content) {
    return of(role, content, null);
  }

  /** A plain turn with its train flag (null follows the policy). */
  public static Message of(String role, String content, Boolean train) {
    return Message.newBuilder().setRole(role).setContent(content).setTrain(train).build();
  }

  /** An assistant turn that calls tools; {@code content} may be null or empty. */
  public static Message toolCalls(String content, List<ToolCall> calls) {
    return Message.newBuilder().setRole("assistant").setContent(content).setToolCalls(calls)
        .build();
  }

  /** One function call with its arguments as JSON text; {@code id} may be null. */
  public static ToolCall call(String id, String name, String argumentsJson) {
    return ToolCall.newBuilder().setId(id).setType("function")
        .setFunction(new FunctionCall(name, argumentsJson)).build();
  }

  /** A tool result answering the call {@code toolCallId} (may be null) of function {@code name}. */
  public static Message toolResult(String toolCallId, String name, String content) {
    return Message.newBuilder().setRole("tool").setContent(content).setToolCallId(toolCallId)
        .setName(name).build();
  }
}
