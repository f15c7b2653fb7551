package io.continualsft.it.schemas;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.continualsft.avro.Conversation;
import io.continualsft.it.support.Clients;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SampleRecords;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.schemas.Messages;
import io.continualsft.schemas.registry.PortableSchemas;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerializer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

/**
 * BACKWARD evolution on a real registry: a producer on a newer Conversation schema (one added
 * optional field) and a consumer on the current one read each other's records.
 */
@RealServices
public class SchemaEvolutionIT {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** The current Conversation schema plus an optional {@code locale} field. */
  public static Schema newerConversationSchema() throws Exception {
    ObjectNode schema = (ObjectNode) JSON.readTree(Conversation.getClassSchema().toString());
    ObjectNode locale = JSON.createObjectNode();
    locale.put("name", "locale");
    locale.set("type", JSON.createArrayNode().add("null").add("string"));
    locale.putNull("default");
    ((ArrayNode) schema.get("fields")).add(locale);
    return new Schema.Parser().parse(schema.toString());
  }

  public static GenericRecord newerConversation(Schema schema, String id, String locale) {
    GenericRecord conversation = SampleRecords.genericConversation(schema, id);
    conversation.put("metadata", Map.of("source", "newer-producer"));
    conversation.put("locale", locale);
    return conversation;
  }

  @Test
  void currentAndNewerProducersAreReadByCurrentAndNewerConsumers(
      KafkaCluster kafka, SchemaRegistry registry) throws Exception {
    String topic = kafka.newTopic("evolution", 1);
    Schema newer = newerConversationSchema();
    try (SchemaRegistryClient client = registry.client(true)) {
      // The current producer registers version 1, the newer producer version 2.
      Clients.produce(kafka, topic, new AvroSerializer<Conversation>(client, false),
          List.of("old"), List.of(SampleRecords.conversation("old")));
      Clients.produce(kafka, topic, new AvroSerializer<GenericRecord>(client, false),
          List.of("new"), List.of(newerConversation(newer, "new", "fr-FR")));

      var v1 = client.schemaByVersion(topic + "-value", "1").orElseThrow();
      var v2 = client.schemaByVersion(topic + "-value", "2").orElseThrow();
      // Registered in its .avsc form: the generated class's schema without Java-only properties.
      assertThat(v1.schema()).isEqualTo(PortableSchemas.of(Conversation.getClassSchema()));
      assertThat(v2.schema().getField("locale")).isNotNull();
      assertThat(v2.id()).isNotEqualTo(v1.id());

      // A consumer on the current class reads the newer record; the unknown field is dropped.
      List<ConsumerRecord<String, Conversation>> current =
          Clients.consume(kafka, topic, AvroDeserializer.specific(Conversation.class, client), 2,
              Duration.ofSeconds(30));
      assertThat(current).hasSize(2);
      assertThat(current.get(0).value()).isEqualTo(SampleRecords.conversation("old"));
      Conversation fromNewer = current.get(1).value();
      assertThat(fromNewer.getId()).isEqualTo("new");
      assertThat(fromNewer.getMessages()).containsExactly(
          Messages.of("user", "Bonjour ?", null), Messages.of("assistant", "Bonjour !", null));
      assertThat(fromNewer.getMetadata()).containsExactlyEntriesOf(Map.of("source", "newer-producer"));
      assertThat(fromNewer.getTools()).isNull();
      assertThat(fromNewer.getCreatedAt()).isEqualTo(SampleRecords.CREATED_AT);

      // A consumer on the newer schema reads the current record with the field's default.
      List<ConsumerRecord<String, GenericRecord>> newerView =
          Clients.consume(kafka, topic, AvroDeserializer.generic(newer, client), 2,
              Duration.ofSeconds(30));
      assertThat(newerView).hasSize(2);
      assertThat(newerView.get(0).value().get("id")).hasToString("old");
      assertThat(newerView.get(0).value().get("locale")).isNull();
      assertThat(newerView.get(1).value().get("locale")).hasToString("fr-FR");
    }
  }
}
