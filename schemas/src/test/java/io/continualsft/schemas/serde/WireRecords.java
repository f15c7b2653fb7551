package io.continualsft.schemas.serde;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;

/**
 * Hand-written wire-format records for tests of hostile input: the header for a schema id, then
 * whatever Avro primitives the test writes, so a record can claim what no serializer would.
 */
public final class WireRecords {
  private WireRecords() {}

  /** Writes the body of a hostile record. */
  public interface BodyWriter {
    void write(BinaryEncoder encoder) throws IOException;
  }

  /** The wire header for {@code schemaId}, then what {@code body} writes. */
  public static byte[] of(int schemaId, BodyWriter body) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(0);
    out.writeBytes(ByteBuffer.allocate(4).putInt(schemaId).array());
    BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(out, null);
    try {
      body.write(encoder);
      encoder.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e); // an in-memory stream never throws
    }
    return out.toByteArray();
  }

  /** The schema id in the header of a wire-format record. */
  public static int schemaId(byte[] record) {
    return WireFormat.schemaId(record);
  }
}
