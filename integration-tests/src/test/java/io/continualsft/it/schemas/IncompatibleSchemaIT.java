package io.continualsft.it.schemas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.continualsft.avro.Conversation;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SampleRecords;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.schemas.registry.IncompatibleSchemaException;
import io.continualsft.schemas.registry.SchemaNotRegisteredException;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroSerializer;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.Test;

/** The registry's compatibility rule (global BACKWARD) refuses a breaking change, and says so. */
@RealServices
class IncompatibleSchemaIT {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Conversation plus a required field with no default: a new reader could not read old data. */
  static Schema breakingConversationSchema() throws Exception {
    ObjectNode schema = (ObjectNode) JSON.readTree(Conversation.getClassSchema().toString());
    ObjectNode priority = JSON.createObjectNode();
    priority.put("name", "priority");
    priority.put("type", "int");
    ((ArrayNode) schema.get("fields")).add(priority);
    return new Schema.Parser().parse(schema.toString());
  }

  @Test
  void aBreakingChangeIsRefusedWithTheRegistrysReason(KafkaCluster kafka, SchemaRegistry registry)
      throws Exception {
    String subject = kafka.newTopic("incompatible", 1) + "-value";
    Schema breaking = breakingConversationSchema();
    try (SchemaRegistryClient client = registry.client(true)) {
      int v1 = client.register(subject, Conversation.getClassSchema());
      assertThat(client.register(subject, Conversation.getClassSchema()))
          .as("registering the same schema again gives the same id").isEqualTo(v1);

      SchemaRegistryClient.CompatibilityResult verdict =
          client.testCompatibility(subject, breaking);
      assertThat(verdict.compatible()).isFalse();

      assertThatThrownBy(() -> client.register(subject, breaking))
          .isInstanceOf(IncompatibleSchemaException.class)
          .hasMessageContaining("incompatible")
          .hasMessageContaining(subject)
          .satisfies(e -> assertThat(((IncompatibleSchemaException) e).subject()).isEqualTo(subject));

      assertThat(client.schemaByVersion(subject, "latest").orElseThrow().id())
          .as("the subject is unchanged").isEqualTo(v1);
    }
  }

  @Test
  void aSerializerWithAutoRegistrationRefusesToWriteAnIncompatibleRecord(
      KafkaCluster kafka, SchemaRegistry registry) throws Exception {
    String topic = kafka.newTopic("incompatible-producer", 1);
    Schema breaking = breakingConversationSchema();
    try (SchemaRegistryClient client = registry.client(true)) {
      var current = new AvroSerializer<Conversation>(client, false);
      current.serialize(topic, SampleRecords.conversation("c"));

      GenericRecord record = new GenericData.Record(breaking);
      record.put("id", "x");
      record.put("adapter", "default");
      record.put("messages", java.util.List.of());
      record.put("createdAt", 0L);
      record.put("priority", 1);
      var newer = new AvroSerializer<GenericRecord>(client, false);
      assertThatThrownBy(() -> newer.serialize(topic, record))
          .isInstanceOf(IncompatibleSchemaException.class)
          .hasMessageContaining(topic + "-value");
    }
  }

  @Test
  void withAutoRegistrationOffAnUnregisteredSchemaIsAnError(
      KafkaCluster kafka, SchemaRegistry registry) {
    String topic = kafka.newTopic("no-auto-register", 1);
    try (SchemaRegistryClient client = registry.client(false)) {
      var serializer = new AvroSerializer<Conversation>(client, false);
      assertThatThrownBy(() -> serializer.serialize(topic, SampleRecords.conversation("c")))
          .isInstanceOf(SchemaNotRegisteredException.class)
          .hasMessageContaining(topic + "-value")
          .hasMessageContaining("auto.register.schemas");

      int id = client.register(topic + "-value", Conversation.getClassSchema());
      byte[] bytes = serializer.serialize(topic, SampleRecords.conversation("c"));
      assertThat(java.nio.ByteBuffer.wrap(bytes, 1, 4).getInt()).isEqualTo(id);
    }
  }
}
