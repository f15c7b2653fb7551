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
}
