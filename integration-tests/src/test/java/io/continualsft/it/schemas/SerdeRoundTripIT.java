package io.continualsft.it.schemas;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.Conversation;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.SftExample;
import io.continualsft.it.support.Clients;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SampleRecords;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroSerde;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every record type through a real topic and a real registry, in the Confluent wire format. */
@RealServices
class SerdeRoundTripIT {

  static Stream<Arguments> records() {
    return Stream.of(
        Arguments.of("conversation", Conversation.class,
            List.of(SampleRecords.conversation("c-1"), SampleRecords.conversation("c-2"))),
        Arguments.of("example", SftExample.class,
            List.of(SampleRecords.example("c-1"), SampleRecords.example("c-2"))),
        Arguments.of("rejection", Rejection.class, List.of(SampleRecords.rejection())),
        Arguments.of("checkpoint", CheckpointRecord.class,
            List.of(SampleRecords.chunk(), SampleRecords.manifest())));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("records")
  <T extends SpecificRecord> void roundTripsThroughARealTopic(
      String name, Class<T> type, List<T> records, KafkaCluster kafka, SchemaRegistry registry) {
    String topic = kafka.newTopic("roundtrip-" + name, 1);
    List<String> keys = records.stream().map(r -> name + "-" + records.indexOf(r)).toList();

    try (SchemaRegistryClient client = registry.client(true);
        AvroSerde<T> serde = AvroSerde.forValues(type, client)) {
      Clients.produce(kafka, topic, serde.serializer(), keys, records);

      List<ConsumerRecord<String, T>> read =
          Clients.consume(kafka, topic, serde.deserializer(), records.size(), Duration.ofSeconds(30));
      assertThat(read).extracting(ConsumerRecord::key).containsExactlyElementsOf(keys);
      assertThat(read).extracting(ConsumerRecord::value).containsExactlyElementsOf(records);

      int registeredId = client.schemaByVersion(topic + "-value", "latest").orElseThrow().id();
      List<ConsumerRecord<String, byte[]>> raw =
          Clients.consume(kafka, topic, new ByteArrayDeserializer(), records.size(),
              Duration.ofSeconds(30));
      assertThat(raw).hasSize(records.size());
      for (ConsumerRecord<String, byte[]> r : raw) {
        ByteBuffer bytes = ByteBuffer.wrap(r.value());
        assertThat(bytes.get()).as("magic byte").isZero();
        assertThat(bytes.getInt()).as("schema id").isEqualTo(registeredId);
      }
    }
  }
}
