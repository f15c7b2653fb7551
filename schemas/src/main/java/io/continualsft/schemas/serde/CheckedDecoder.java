package io.continualsft.schemas.serde;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.apache.avro.util.Utf8;

/**
 * A decoder for one record's body of {@code bodyBytes} bytes that refuses, before anything is
 * allocated, every size the body cannot hold, and checks every string's UTF-8.
 *
 * <p>Why here and not only in Avro's own limits ({@link AvroLimits}): Avro checks a declared
 * length against a global cap, and generated classes allocate an array of the declared item
 * count ({@code new SpecificData.Array<>(size, ...)}) before reading one item. A 38-byte record
 * declaring 2^31 items would allocate gigabytes. A record can only hold what its bytes hold: every
 * string or bytes field declares at most the body's length, and every array or map item takes at
 * least one byte in this project's schemas, so the items declared across the whole record are
 * bounded by the body's length too. Strings and bytes are read here (length, then exactly that
 * many bytes), so Avro never allocates from a declared length.
 *
 * <p>At the decoder, not the datum reader, because generated classes decode their own fields
 * ({@code customDecode}) and never call the reader's {@code readString}.
 */
final class CheckedDecoder extends org.apache.avro.io.Decoder {
  private final org.apache.avro.io.Decoder in;
  private final long bodyBytes;
  private long itemsDeclared;

  CheckedDecoder(org.apache.avro.io.Decoder in, int bodyBytes) {
    this.in = in;
    this.bodyBytes = bodyBytes;
  }

  @Override
  public Utf8 readString(Utf8 old) throws IOException {
    int length = declaredLength("string");
    Utf8 result = old != null ? old : new Utf8();
    result.setByteLength(length);
    if (length > 0) {
      in.readFixed(result.getBytes(), 0, length);
    }
    return StrictUtf8.check(result);
  }

  @Override
  public String readString() throws IOException {
    return readString(null).toString();
  }

  @Override
  public void skipString() throws IOException {
    in.skipFixed(declaredLength("string"));
  }

  @Override
  public ByteBuffer readBytes(ByteBuffer old) throws IOException {
    int length = declaredLength("bytes");
    byte[] bytes = new byte[length];
    in.readFixed(bytes, 0, length);
    return ByteBuffer.wrap(bytes);
  }

  @Override
  public void skipBytes() throws IOException {
    in.skipFixed(declaredLength("bytes"));
  }

  // Block counts are read here rather than by Avro's decoder, so that a count is checked before
  // Avro's own collection limit, whose value depends on when Avro first read its properties.

  @Override
  public long readArrayStart() throws IOException {
    return items(blockCount(), "an array");
  }

  @Override
  public long arrayNext() throws IOException {
    return items(blockCount(), "an array");
  }

  @Override
  public long skipArray() throws IOException {
    return in.skipArray();
  }

  @Override
  public long readMapStart() throws IOException {
    return items(blockCount(), "a map");
  }

  @Override
  public long mapNext() throws IOException {
    return items(blockCount(), "a map");
  }

  @Override
  public long skipMap() throws IOException {
    return in.skipMap();
  }

  /** A block's item count; the negative form is followed by the block's size in bytes. */
  private long blockCount() throws IOException {
    long count = in.readLong();
    if (count < 0) {
      in.readLong(); // the block's byte size, which only skipping uses
      count = -count; // Long.MIN_VALUE stays negative and is refused below
    }
    return count;
  }

  private int declaredLength(String kind) throws IOException {
    long length = in.readLong();
    if (length < 0 || length > bodyBytes) {
      throw new CorruptAvroException("a " + kind + " field declares " + length + " bytes in an"
          + " Avro body of " + bodyBytes + " bytes", null);
    }
    return (int) length;
  }

  private long items(long declared, String kind) {
    itemsDeclared += declared;
    if (declared < 0 || itemsDeclared > bodyBytes) {
      throw new CorruptAvroException(kind + " declares " + declared + " items (" + itemsDeclared
          + " in this record so far) in an Avro body of " + bodyBytes + " bytes; every item takes"
          + " at least one byte", null);
    }
    return declared;
  }

  @Override
  public void readNull() throws IOException {
    in.readNull();
  }

  @Override
  public boolean readBoolean() throws IOException {
    return in.readBoolean();
  }

  @Override
  public int readInt() throws IOException {
    return in.readInt();
  }

  @Override
  public long readLong() throws IOException {
    return in.readLong();
  }

  @Override
  public float readFloat() throws IOException {
    return in.readFloat();
  }

  @Override
  public double readDouble() throws IOException {
    return in.readDouble();
  }

  @Override
  public void readFixed(byte[] bytes, int start, int length) throws IOException {
    in.readFixed(bytes, start, length);
  }

  @Override
  public void skipFixed(int length) throws IOException {
    in.skipFixed(length);
  }

  @Override
  public int readEnum() throws IOException {
    return in.readEnum();
  }

  @Override
  public int readIndex() throws IOException {
    return in.readIndex();
  }
}
