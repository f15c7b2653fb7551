package io.continualsft.chat.jsonl;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.continualsft.avro.Conversation;
import io.continualsft.avro.Message;
import io.continualsft.schemas.Fingerprints;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One line of a conversations JSONL file, in either of the two accepted shapes:
 * {@code {"id": "...", "conversations": [{"role", "content"}, ...]}} (the SFT tutorial's) or
 * {@code {"id": "...", "messages": [...]}}. Messages may carry {@code "train": true|false};
 * the line may carry {@code "tools"} (a JSON array), {@code "adapter"} and {@code "metadata"}.
 */
public record JsonlConversation(String id, List<Message> messages, String tools, String adapter,
    Map<String, String> metadata) {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** A line that is not a conversation; says why. */
  public static final class InvalidLineException extends Exception {
    public InvalidLineException(String message) {
      super(message);
    }
  }

  public static JsonlConversation parse(String line) throws InvalidLineException {
    JsonNode node;
    try {
      node = JSON.readTree(line);
    } catch (java.io.IOException e) {
      throw new InvalidLineException("not valid JSON: " + e.getMessage().lines().findFirst().orElse(""));
    }
    if (node == null || !node.isObject()) {
      throw new InvalidLineException("not a JSON object");
    }
    JsonNode turns = node.has("messages") ? node.get("messages") : node.get("conversations");
    if (turns == null || !turns.isArray()) {
      throw new InvalidLineException("no \"conversations\" or \"messages\" array");
    }
    List<Message> messages = new ArrayList<>();
    for (int i = 0; i < turns.size(); i++) {
      JsonNode t = turns.get(i);
      if (!t.path("role").isTextual() || !t.path("content").isTextual()) {
        throw new InvalidLineException("message " + i + " needs string \"role\" and \"content\"");
      }
      JsonNode train = t.get("train");
      messages.add(new Message(t.get("role").asText(), t.get("content").asText(),
          train == null || train.isNull() ? null : train.asBoolean()));
    }
    String tools = node.hasNonNull("tools") ? node.get("tools").toString() : null;
    String id = node.hasNonNull("id") ? node.get("id").asText() : contentId(turns, tools);
    String adapter = node.hasNonNull("adapter") ? node.get("adapter").asText() : null;
    Map<String, String> metadata = null;
    if (node.has("metadata") && node.get("metadata").isObject()) {
      metadata = new LinkedHashMap<>();
      for (var e : node.get("metadata").properties()) {
        metadata.put(e.getKey(), e.getValue().isTextual() ? e.getValue().asText() : e.getValue().toString());
      }
    }
    return new JsonlConversation(id, messages, tools, adapter, metadata);
  }

  /** A stable id for a line without one: sha256 of its messages and tools, 32 hex digits. */
  static String contentId(JsonNode turns, String tools) {
    String content = turns.toString() + (tools == null ? "" : tools);
    return Fingerprints.sha256(content.getBytes(StandardCharsets.UTF_8)).substring(0, 32);
  }

  public Conversation toAvro(String defaultAdapter, Instant createdAt) {
    return Conversation.newBuilder()
        .setId(id)
        .setAdapter(adapter != null ? adapter : defaultAdapter)
        .setMessages(messages)
        .setTools(tools)
        .setMetadata(metadata)
        .setCreatedAt(createdAt)
        .build();
  }
}
