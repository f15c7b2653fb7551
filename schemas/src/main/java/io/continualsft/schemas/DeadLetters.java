package io.continualsft.schemas;

import io.continualsft.avro.Rejection;
import io.continualsft.avro.RejectionReason;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;

/**
 * Dead letters as both services write them: the reason, the detail, who rejected it, where the
 * record came from and its original bytes, so that nothing is lost. An original value over the
 * cap is not copied (Kafka caps record sizes); the detail then says where it still is.
 */
public final class DeadLetters {
  /** Copy every original value, whatever its size. */
  public static final int NO_CAP = Integer.MAX_VALUE;

  private DeadLetters() {}

  /** Where the rejected record was read. */
  public record Source(String topic, int partition, long offset, byte[] key, byte[] value) {}

  public static Rejection rejection(RejectionReason reason, String detail, String rejectedBy,
      Source source, Instant at, int maxOriginalBytes) {
    byte[] value = source.value();
    boolean copied = value == null || value.length <= maxOriginalBytes;
    if (!copied) {
      detail += String.format(" [original value of %,d bytes not copied here (over"
          + " dead-letters.max-original-bytes, %,d): it is in %s partition %d at offset %d]",
          value.length, maxOriginalBytes, source.topic(), source.partition(), source.offset());
    }
    return Rejection.newBuilder()
        .setReason(reason)
        .setDetail(detail)
        .setRejectedBy(rejectedBy)
        .setOriginalKey(source.key() == null ? null : ByteBuffer.wrap(source.key()))
        .setOriginalValue(value == null || !copied ? null : ByteBuffer.wrap(value))
        .setSourceTopic(source.topic())
        .setSourcePartition(source.partition())
        .setSourceOffset(source.offset())
        .setCreatedAt(at)
        .build();
  }

  /** The key a dead letter is written under: the original key's string form, or none. */
  public static String key(byte[] originalKey) {
    return originalKey == null ? null : new String(originalKey, StandardCharsets.UTF_8);
  }
}
