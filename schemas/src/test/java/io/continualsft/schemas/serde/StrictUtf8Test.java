package io.continualsft.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.RejectionReason;
import io.continualsft.schemas.Messages;
import io.continualsft.schemas.registry.SchemaResolver;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.Test;

/** Avro would read malformed UTF-8 as U+FFFD; the deserializer refuses it instead. */
class StrictUtf8Test {
  private static final SchemaResolver ONE_SCHEMA =
      new SingleSchemaResolver(Conversation.getClassSchema());


  private static byte[] conversation(String content) {
    Conversation c = Conversation.newBuilder().setId("c1")
        .setMessages(List.of(Messages.of("user", content, null), Messages.of("assistant", "ok", null)))
        .setCreatedAt(Instant.ofEpochMilli(0)).build();
    return new AvroSerializer<Conversation>(ONE_SCHEMA, false).serialize("t", c);
  }

  /** Replaces the 3 bytes of "abc" in {@code bytes} with {@code replacement}. */
  private static byte[] patch(byte[] bytes, byte... replacement) {
    String latin = new String(bytes, StandardCharsets.ISO_8859_1);
    int at = latin.indexOf("abc");
    System.arraycopy(replacement, 0, bytes, at, 3);
    return bytes;
  }

  @Test
  void wellFormedTextReadsBackUnchanged() {
    byte[] bytes = conversation("abc 中文 \uD83D\uDE00");
    Conversation read = AvroDeserializer.specific(Conversation.class, ONE_SCHEMA).deserialize("t", bytes);
    assertThat(read.getMessages().get(0).getContent()).isEqualTo("abc 中文 \uD83D\uDE00");
  }

  @Test
  void aLoneSurrogateEncodedAsCesu8IsInvalidCharacters() {
    byte[] bytes = patch(conversation("abc"), (byte) 0xED, (byte) 0xA0, (byte) 0x80); // U+D800
    assertThatThrownBy(() -> AvroDeserializer.specific(Conversation.class, ONE_SCHEMA)
        .deserialize("t", bytes))
        .isInstanceOf(InvalidTextException.class)
        .hasMessageContaining("not valid UTF-8")
        .satisfies(e -> assertThat(((BadRecordException) e).reason())
            .isEqualTo(RejectionReason.INVALID_CHARACTERS));
  }

  @Test
  void garbledBytesAreRefusedByTheGenericReaderToo() {
    byte[] bytes = patch(conversation("abc"), (byte) 0xC3, (byte) 0x28, (byte) 0x41);
    assertThatThrownBy(() -> AvroDeserializer.generic((Schema) null, ONE_SCHEMA)
        .deserialize("t", bytes))
        .isInstanceOf(InvalidTextException.class);
    GenericRecord fine = AvroDeserializer.generic((Schema) null, ONE_SCHEMA)
        .deserialize("t", conversation("abc"));
    assertThat(fine.get("id").toString()).isEqualTo("c1");
  }
}
