package io.continualsft.it.support;

import io.continualsft.avro.CheckpointChunk;
import io.continualsft.avro.CheckpointFile;
import io.continualsft.avro.CheckpointManifest;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.Conversation;
import io.continualsft.avro.LoraConfig;
import io.continualsft.avro.PartitionOffset;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.RejectionReason;
import io.continualsft.avro.SftExample;
import io.continualsft.schemas.Messages;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/** One fully populated record of every type, with values that exercise every field kind. */
public final class SampleRecords {
  /** Millisecond precision: that is what timestamp-millis keeps. */
  public static final Instant CREATED_AT = Instant.parse("2026-11-29T10:15:30.123Z");

  private SampleRecords() {}

  public static Conversation conversation(String id) {
    return Conversation.newBuilder()
        .setId(id)
        .setAdapter("support-bot")
        .setMessages(List.of(
            Messages.of("system", "You are terse.", null),
            Messages.of("user", "2+2? Answer in 中文 please 👋", null),
            Messages.of("assistant", "四", true)))
        .setTools("[{\"type\": \"function\", \"function\": {\"name\": \"add\"}}]")
        .setMetadata(Map.of("source", "test", "rating", "5"))
        .setCreatedAt(CREATED_AT)
        .build();
  }

  /**
   * A two-turn French greeting as a generic record of {@code schema}, some version of
   * Conversation this build has no class for (an older one, or a newer one with a field more).
   */
  public static org.apache.avro.generic.GenericRecord genericConversation(
      org.apache.avro.Schema schema, String id) {
    org.apache.avro.Schema messageSchema = schema.getField("messages").schema().getElementType();
    org.apache.avro.generic.GenericRecord user =
        new org.apache.avro.generic.GenericData.Record(messageSchema);
    user.put("role", "user");
    user.put("content", "Bonjour ?");
    org.apache.avro.generic.GenericRecord assistant =
        new org.apache.avro.generic.GenericData.Record(messageSchema);
    assistant.put("role", "assistant");
    assistant.put("content", "Bonjour !");
    org.apache.avro.generic.GenericRecord conversation =
        new org.apache.avro.generic.GenericData.Record(schema);
    conversation.put("id", id);
    conversation.put("adapter", "default");
    conversation.put("messages", List.of(user, assistant));
    conversation.put("createdAt", CREATED_AT.toEpochMilli());
    return conversation;
  }

  public static SftExample example(String conversationId) {
    return SftExample.newBuilder()
        .setConversationId(conversationId)
        .setAdapter("default")
        .setInputIds(List.of(151644, 872, 198, 17, 10, 17, 30, 151645))
        .setLabels(List.of(-100, -100, -100, -100, -100, 17, 30, 151645))
        .setTrainedTokens(3)
        .setTokenizerFingerprint("a".repeat(64))
        .setTemplateFingerprint("b".repeat(64))
        .setSourceTopic("sft.conversations")
        .setSourcePartition(2)
        .setSourceOffset(123_456_789_012L)
        .setCreatedAt(CREATED_AT)
        .build();
  }

  public static Rejection rejection() {
    return Rejection.newBuilder()
        .setReason(RejectionReason.UNKNOWN_ROLE)
        .setDetail("unknown role \"developer\" at message 1")
        .setRejectedBy("sft-streams")
        .setOriginalKey(ByteBuffer.wrap("conv-1".getBytes(StandardCharsets.UTF_8)))
        .setOriginalValue(ByteBuffer.wrap(new byte[] {0, 0, 0, 0, 7, 1, 2, 3, (byte) 0xff}))
        .setSourceTopic("sft.conversations")
        .setSourcePartition(0)
        .setSourceOffset(42L)
        .setCreatedAt(CREATED_AT)
        .build();
  }

  public static CheckpointRecord chunk() {
    byte[] data = new byte[4096];
    for (int i = 0; i < data.length; i++) {
      data[i] = (byte) (i * 31);
    }
    return CheckpointRecord.newBuilder()
        .setAdapter("default")
        .setVersion(7)
        .setPayload(CheckpointChunk.newBuilder()
            .setFile("adapter_model.safetensors")
            .setIndex(3)
            .setOffset(3L * 4096)
            .setData(ByteBuffer.wrap(data))
            .build())
        .build();
  }

  public static CheckpointRecord manifest() {
    return CheckpointRecord.newBuilder()
        .setAdapter("default")
        .setVersion(7)
        .setPayload(CheckpointManifest.newBuilder()
            .setStep(700)
            .setExamplesTrained(5600)
            .setTokensTrained(1_234_567)
            .setSourceOffsets(List.of(
                new PartitionOffset("sft.examples", 0, 2800L),
                new PartitionOffset("sft.examples", 1, 2801L)))
            .setBaseModel("local/tiny-qwen3")
            .setBaseModelFingerprint("c".repeat(64))
            .setTokenizerFingerprint("a".repeat(64))
            .setLora(LoraConfig.newBuilder()
                .setR(8)
                .setAlpha(16.0)
                .setDropout(0.05)
                .setTargetModules(List.of("q_proj", "v_proj"))
                .setUseRslora(false)
                .build())
            .setMetrics(Map.of("train_loss", 1.25, "eval_loss", 1.5))
            .setFiles(List.of(
                new CheckpointFile("adapter_config.json", 412L, "d".repeat(64), 1),
                new CheckpointFile("adapter_model.safetensors", 16_384L, "e".repeat(64), 4)))
            .setCreatedAt(CREATED_AT)
            .build())
        .build();
  }
}
