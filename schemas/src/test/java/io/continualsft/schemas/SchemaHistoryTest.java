package io.continualsft.schemas;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Message;
import io.continualsft.avro.Rejection;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every schema a producer or an older service may still write (src/test/resources/schema-history,
 * one file per registered version) is read by the current one: the BACKWARD rule the registry
 * enforces, checked before a change reaches it.
 */
class SchemaHistoryTest {

  private static Schema historic(String file) throws IOException {
    try (InputStream in = SchemaHistoryTest.class.getResourceAsStream("/schema-history/" + file)) {
      return new Schema.Parser().parse(in);
    }
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({"Conversation-v1.avsc, Conversation", "Rejection-v1.avsc, Rejection",
      "Rejection-v2.avsc, Rejection", "AdapterRelease-v1.avsc, AdapterRelease",
      "AdapterRelease-v2.avsc, AdapterRelease",
      "Conversation-v2.avsc, Conversation", "SftExample-v1.avsc, SftExample",
      "CheckpointRecord-v1.avsc, CheckpointRecord", "Rejection-v3.avsc, Rejection",
      "Conversation-v3.avsc, Conversation"})
  void theCurrentSchemaReadsEveryEarlierVersion(String file, String name) throws IOException {
    Schema current = switch (name) {
      case "Conversation" -> Conversation.getClassSchema();
      case "AdapterRelease" -> io.continualsft.avro.AdapterRelease.getClassSchema();
      case "SftExample" -> io.continualsft.avro.SftExample.getClassSchema();
      case "CheckpointRecord" -> io.continualsft.avro.CheckpointRecord.getClassSchema();
      default -> Rejection.getClassSchema();
    };
    SchemaCompatibility.SchemaPairCompatibility result =
        SchemaCompatibility.checkReaderWriterCompatibility(current, historic(file));
    assertThat(result.getType()).as(result.getDescription())
        .isEqualTo(SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE);
  }

  @Test
  void aVersionOneConversationReadsWithTheNewFieldsUnset() throws IOException {
    Schema v1 = historic("Conversation-v1.avsc");
    Schema messageV1 = v1.getField("messages").schema().getElementType();
    GenericRecord user = new GenericData.Record(messageV1);
    user.put("role", "user");
    user.put("content", "Bonjour ?");
    GenericRecord assistant = new GenericData.Record(messageV1);
    assistant.put("role", "assistant");
    assistant.put("content", "Bonjour !");
    assistant.put("train", true);
    GenericRecord old = new GenericData.Record(v1);
    old.put("id", "v1-event");
    old.put("adapter", "default");
    old.put("messages", List.of(user, assistant));
    old.put("metadata", Map.of("source", "phase-1"));
    old.put("createdAt", 1_700_000_000_000L);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(bytes, null);
    new GenericDatumWriter<GenericRecord>(v1).write(old, encoder);
    encoder.flush();

    Conversation read = new SpecificDatumReader<Conversation>(v1, Conversation.getClassSchema())
        .read(null, DecoderFactory.get().binaryDecoder(bytes.toByteArray(), null));

    assertThat(read.getMessages()).containsExactly(Messages.of("user", "Bonjour ?"),
        Messages.of("assistant", "Bonjour !", true));
    Message m = read.getMessages().get(1);
    assertThat(m.getReasoning()).isNull();
    assertThat(m.getToolCalls()).isNull();
    assertThat(m.getToolCallId()).isNull();
    assertThat(m.getName()).isNull();
  }
}
