package io.continualsft.schemas;

import io.continualsft.avro.Rejection;
import io.continualsft.avro.RejectionReason;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;

/**
 * Dead letters as both services write them: the reason, the detail, who rejected it, where the
 * record came from and its original bytes, so that nothing is lost. An original value over the
 * cap is not copied (Kafka caps record sizes); the detail then says where it still is. The key
 * and the detail are capped too, so that a dead letter is never larger than
 * {@link #maxSize(int)}: the record that explains a too-large record must itself be sendable.
 */
public final class DeadLetters {
  /** An original key longer than this is not copied (nor used as the dead letter's key). */
  public static final int MAX_KEY_BYTES = 16 * 1024;
  /** A longer detail is cut, with a note saying so. */
  public static final int MAX_DETAIL_CHARS = 8 * 1024;
  /** Topic names, ids, timestamps, Avro and Kafka framing: far more than they take. */
  private static final int FIXED_OVERHEAD_BYTES = 8 * 1024;

  private DeadLetters() {}

  /** Where the rejected record was read. */
  public record Source(String topic, int partition, long offset, byte[] key, byte[] value) {}

  /**
   * The largest a dead letter (key, value and framing) can be when originals up to
   * {@code maxOriginalBytes} are copied; a producer's max.request.size must be at least this.
   */
  public static long maxSize(int maxOriginalBytes) {
    // The key twice (the record's key and originalKey), the detail at up to 3 UTF-8 bytes per
    // UTF-16 char.
    return (long) maxOriginalBytes + 2L * MAX_KEY_BYTES + 3L * MAX_DETAIL_CHARS
        + FIXED_OVERHEAD_BYTES;
  }

  /**
   * What {@code rejection} takes as a record, near enough (within its framing): its copied
   * original, its key twice (the record's and originalKey), its detail at up to 3 UTF-8 bytes per
   * UTF-16 char. {@link #maxSize(int)} is the bound; this is the actual.
   */
  public static long approximateSize(Rejection rejection) {
    return (rejection.getOriginalValue() == null ? 0 : rejection.getOriginalValue().remaining())
        + (rejection.getOriginalKey() == null ? 0 : 2L * rejection.getOriginalKey().remaining())
        + 3L * rejection.getDetail().length() + 512;
  }

  public static Rejection rejection(RejectionReason reason, String detail, String rejectedBy,
      Source source, Instant at, int maxOriginalBytes) {
    if (detail.length() > MAX_DETAIL_CHARS) {
      detail = detail.substring(0, MAX_DETAIL_CHARS - 64) + " [detail cut: " + detail.length()
          + " characters]";
    }
    byte[] key = source.key();
    if (key != null && key.length > MAX_KEY_BYTES) {
      detail += String.format(" [original key of %,d bytes not copied here (over %,d)]",
          key.length, MAX_KEY_BYTES);
      key = null;
    }
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
        .setOriginalKey(key == null ? null : ByteBuffer.wrap(key))
        .setOriginalValue(value == null || !copied ? null : ByteBuffer.wrap(value))
        .setSourceTopic(source.topic())
        .setSourcePartition(source.partition())
        .setSourceOffset(source.offset())
        .setCreatedAt(at)
        .build();
  }

  /**
   * The key a dead letter is written under: the original key's string form, or none when there
   * was none or it is over {@link #MAX_KEY_BYTES}.
   */
  public static String key(byte[] originalKey) {
    byte[] kept = keyBytes(originalKey);
    return kept == null ? null : new String(kept, StandardCharsets.UTF_8);
  }

  /** The original key's bytes, or null when there were none or they are over the cap. */
  public static byte[] keyBytes(byte[] originalKey) {
    return originalKey == null || originalKey.length > MAX_KEY_BYTES ? null : originalKey;
  }
}
