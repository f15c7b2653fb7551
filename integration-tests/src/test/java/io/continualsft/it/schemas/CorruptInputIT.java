package io.continualsft.it.schemas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.RejectionReason;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SampleRecords;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.local.FreePorts;
import io.continualsft.schemas.registry.RegistryUnavailableException;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.schemas.serde.BadRecordException;
import io.continualsft.schemas.serde.CorruptAvroException;
import io.continualsft.schemas.serde.NotWireFormatException;
import io.continualsft.schemas.serde.UnknownSchemaIdException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Each kind of corrupt input gets its own typed error and reason code, against a real registry;
 * a registry outage is a different kind of error altogether, so it can never dead-letter a record.
 */
@RealServices
class CorruptInputIT {
  private String topic;
  private SchemaRegistryClient client;
  private AvroDeserializer<Conversation> deserializer;
  private byte[] valid;

  @BeforeEach
  void setUp(KafkaCluster kafka, SchemaRegistry registry) {
    topic = kafka.newTopic("corrupt", 1);
    client = registry.client(true);
    deserializer = AvroDeserializer.specific(Conversation.class, client);
    valid = new AvroSerializer<Conversation>(client, false)
        .serialize(topic, SampleRecords.conversation("c-1"));
    assertThat(deserializer.deserialize(topic, valid)).isEqualTo(SampleRecords.conversation("c-1"));
  }

  @AfterEach
  void tearDown() {
    client.close();
  }

  @Test
  void emptyBytesAreNotTheWireFormat() {
    assertBadRecord(new byte[0], NotWireFormatException.class, RejectionReason.NOT_WIRE_FORMAT,
        "shorter than the 5-byte wire-format header");
  }

  @Test
  void fourBytesAreNotTheWireFormat() {
    assertBadRecord(Arrays.copyOf(valid, 4), NotWireFormatException.class,
        RejectionReason.NOT_WIRE_FORMAT, "record is 4 bytes");
  }

  @Test
  void magicByteOneIsNotTheWireFormat() {
    byte[] bytes = valid.clone();
    bytes[0] = 1;
    assertBadRecord(bytes, NotWireFormatException.class, RejectionReason.NOT_WIRE_FORMAT,
        "first byte is 1");
  }

  @Test
  void plainJsonIsNotTheWireFormat() {
    assertBadRecord("{\"id\":\"x\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8),
        NotWireFormatException.class, RejectionReason.NOT_WIRE_FORMAT, "first byte is 123");
  }

  @Test
  void anIdTheRegistryDoesNotKnowIsAnUnknownSchemaId() {
    byte[] bytes = valid.clone();
    ByteBuffer.wrap(bytes, 1, 4).putInt(987_654_321);
    assertBadRecord(bytes, UnknownSchemaIdException.class, RejectionReason.UNKNOWN_SCHEMA_ID,
        "schema id 987654321 is not known");
  }

  @Test
  void truncatedAvroIsCorrupt() {
    assertBadRecord(Arrays.copyOf(valid, valid.length - 7), CorruptAvroException.class,
        RejectionReason.CORRUPT_AVRO, "does not decode");
  }

  @Test
  void bytesAfterACompleteRecordAreCorrupt() {
    byte[] bytes = Arrays.copyOf(valid, valid.length + 3);
    assertBadRecord(bytes, CorruptAvroException.class, RejectionReason.CORRUPT_AVRO,
        "bytes left over");
  }

  @Test
  void aRegistryOutageIsNotABadRecord() {
    String deadUrl = "http://127.0.0.1:" + FreePorts.pick() + "/apis/ccompat/v7";
    SchemaRegistryConfig config = SchemaRegistryConfig.fromMap(Map.of(
        SchemaRegistryConfig.URL, deadUrl,
        SchemaRegistryConfig.RETRIES, "2",
        SchemaRegistryConfig.RETRY_BACKOFF_MS, "10"));
    try (SchemaRegistryClient down = new SchemaRegistryClient(config)) {
      AvroDeserializer<Conversation> offline = AvroDeserializer.specific(Conversation.class, down);
      assertThatThrownBy(() -> offline.deserialize(topic, valid))
          .isInstanceOf(RegistryUnavailableException.class)
          .isNotInstanceOf(BadRecordException.class)
          .hasMessageContaining(deadUrl)
          .hasMessageContaining("after 3 attempts");
    }
  }

  private void assertBadRecord(byte[] bytes, Class<? extends BadRecordException> type,
      RejectionReason reason, String messagePart) {
    assertThatThrownBy(() -> deserializer.deserialize(topic, bytes))
        .isExactlyInstanceOf(type)
        .hasMessageContaining(messagePart)
        .satisfies(e -> assertThat(((BadRecordException) e).reason()).isEqualTo(reason));
  }
}
