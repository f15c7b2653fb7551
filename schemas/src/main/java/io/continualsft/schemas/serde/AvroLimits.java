package io.continualsft.schemas.serde;

import org.apache.avro.SystemLimitException;

/**
 * Avro's own global limits on declared string and bytes lengths and collection sizes, set to what
 * this project's records can legitimately need, unless the operator has set them already (as
 * {@code -D} system properties). They are a second line behind {@link CheckedDecoder}, which bounds
 * every declared size by the record's own length; these cover any Avro decoding that does not go
 * through it. Avro reads the properties once, when it first checks a limit, so they are set
 * before the first record is deserialized.
 */
public final class AvroLimits {
  /** Largest string or bytes value: a record can never be larger than Kafka's fetch limits. */
  public static final int MAX_LENGTH = 64 * 1024 * 1024;
  /** Largest array or map. */
  public static final int MAX_COLLECTION_ITEMS = 16 * 1024 * 1024;

  private AvroLimits() {}

  static void apply() {
    setIfAbsent(SystemLimitException.MAX_STRING_LENGTH_PROPERTY, MAX_LENGTH);
    setIfAbsent(SystemLimitException.MAX_BYTES_LENGTH_PROPERTY, MAX_LENGTH);
    setIfAbsent(SystemLimitException.MAX_COLLECTION_LENGTH_PROPERTY, MAX_COLLECTION_ITEMS);
  }

  private static void setIfAbsent(String property, int value) {
    if (System.getProperty(property) == null) {
      System.setProperty(property, Integer.toString(value));
    }
  }
}
