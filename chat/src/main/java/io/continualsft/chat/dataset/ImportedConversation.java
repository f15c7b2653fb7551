package io.continualsft.chat.dataset;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Message;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * One conversation read from a dataset file, whatever its shape, before it becomes an Avro
 * {@code Conversation}. {@code adapter} and {@code metadata} are null when the record has none.
 */
public record ImportedConversation(String id, List<Message> messages, String tools,
    String adapter, Map<String, String> metadata) {

  /** Reads one record, in {@code format} or (AUTO) the shape its fields say. */
  public static ImportedConversation parse(String json, DatasetFormat format)
      throws InvalidRecordException {
    return DatasetRecords.convert(DatasetFile.parseRecord(json), format);
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
