package io.continualsft.schemas.serde;

import java.nio.ByteBuffer;

/**
 * The Confluent wire format: magic byte {@code 0}, the schema's registry id as a 4-byte big-endian
 * int, then the Avro binary encoding of the record with that schema.
 */
public final class WireFormat {
  public static final byte MAGIC_BYTE = 0;
  public static final int HEADER_SIZE = 5;

  private WireFormat() {}

  /** The schema id in the header of {@code bytes}; the Avro body starts at {@link #HEADER_SIZE}. */
  public static int schemaId(byte[] bytes) {
    if (bytes.length < HEADER_SIZE) {
      throw new NotWireFormatException(
          "record is " + bytes.length + " bytes, shorter than the " + HEADER_SIZE
              + "-byte wire-format header (magic byte 0 + 4-byte schema id)");
    }
    if (bytes[0] != MAGIC_BYTE) {
      throw new NotWireFormatException(
          "first byte is " + (bytes[0] & 0xff) + ", not the wire-format magic byte 0; the producer"
              + " did not use a schema-registry Avro serializer");
    }
    return ByteBuffer.wrap(bytes, 1, 4).getInt();
  }

  /** Writes the 5-byte header for {@code schemaId} at the start of {@code target}. */
  public static void writeHeader(ByteBuffer target, int schemaId) {
    target.put(MAGIC_BYTE).putInt(schemaId);
  }
}
