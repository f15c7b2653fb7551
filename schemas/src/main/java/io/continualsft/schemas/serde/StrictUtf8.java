package io.continualsft.schemas.serde;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import org.apache.avro.util.Utf8;

/** Checks that Avro string bytes are well-formed UTF-8 instead of replacing what is not. */
final class StrictUtf8 {
  private StrictUtf8() {}

  static Utf8 check(Utf8 value) {
    try {
      StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(value.getBytes(), 0, value.getByteLength()));
      return value;
    } catch (CharacterCodingException e) {
      throw new InvalidTextException("a string field of " + value.getByteLength()
          + " bytes is not valid UTF-8 (" + e.getMessage() + "): a lone surrogate or garbled"
          + " text, which Avro would read as U+FFFD replacement characters");
    }
  }

  /**
   * A decoder that checks every string it reads. At the decoder, not the datum reader, because
   * generated classes decode their own fields ({@code customDecode}) and never call the reader's
   * {@code readString}. Everything else is passed through.
   */
  static final class Decoder extends org.apache.avro.io.Decoder {
    private final org.apache.avro.io.Decoder in;

    Decoder(org.apache.avro.io.Decoder in) {
      this.in = in;
    }

    @Override
    public Utf8 readString(Utf8 old) throws IOException {
      return check(in.readString(old));
    }

    @Override
    public String readString() throws IOException {
      return check(in.readString(null)).toString();
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
    public void skipString() throws IOException {
      in.skipString();
    }

    @Override
    public ByteBuffer readBytes(ByteBuffer old) throws IOException {
      return in.readBytes(old);
    }

    @Override
    public void skipBytes() throws IOException {
      in.skipBytes();
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
    public long readArrayStart() throws IOException {
      return in.readArrayStart();
    }

    @Override
    public long arrayNext() throws IOException {
      return in.arrayNext();
    }

    @Override
    public long skipArray() throws IOException {
      return in.skipArray();
    }

    @Override
    public long readMapStart() throws IOException {
      return in.readMapStart();
    }

    @Override
    public long mapNext() throws IOException {
      return in.mapNext();
    }

    @Override
    public long skipMap() throws IOException {
      return in.skipMap();
    }

    @Override
    public int readIndex() throws IOException {
      return in.readIndex();
    }
  }
}
