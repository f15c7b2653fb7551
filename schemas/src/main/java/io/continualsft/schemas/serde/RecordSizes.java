package io.continualsft.schemas.serde;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecord;

/** Sizes of records as they will be sent, for checking them against a producer's limits. */
public final class RecordSizes {
  private RecordSizes() {}

  /** The wire-format size of {@code record} (header included), without building the bytes. */
  public static long wireBytes(SpecificRecord record) {
    CountingStream counter = new CountingStream();
    BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(counter, null);
    try {
      new SpecificDatumWriter<SpecificRecord>(record.getSchema(),
          SpecificData.getForSchema(record.getSchema())).write(record, encoder);
      encoder.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e); // a counting stream never throws
    }
    return WireFormat.HEADER_SIZE + counter.count;
  }

  private static final class CountingStream extends OutputStream {
    long count;

    @Override
    public void write(int b) {
      count++;
    }

    @Override
    public void write(byte[] b, int off, int len) {
      count += len;
    }
  }
}
