package io.continualsft.chat.dataset;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Message;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * One conversation read from a dataset file, whatever its shape, before it becomes an Avro
 * {@code Conversation}. {@code adapter}, {@code metadata} and {@code subject} (the data subject,
 * a top-level {@code "subject"} string, or the field a producer maps to it) are null when the
 * record has none.
 */
public record ImportedConversation(String id, List<Message> messages, String tools,
    String adapter, Map<String, String> metadata, String subject) {

  public ImportedConversation(String id, List<Message> messages, String tools, String adapter,
      Map<String, String> metadata) {
    this(id, messages, tools, adapter, metadata, null);
  }

  /** The same conversation of data subject {@code subject}. */
  public ImportedConversation withSubject(String subject) {
    return new ImportedConversation(id, messages, tools, adapter, metadata, subject);
  }

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
        .setSubject(subject)
        .setCreatedAt(createdAt)
        .build();
  }
}
