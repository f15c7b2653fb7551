package io.continualsft.it.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.SftExample;
import io.continualsft.it.schemas.SchemaEvolutionIT;
import io.continualsft.it.support.Clients;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.it.support.TestConfigs;
import io.continualsft.it.support.TestDirs;
import io.continualsft.schemas.Messages;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.streams.StreamsApp;
import io.continualsft.streams.config.StreamsAppConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

/**
 * Producers move to a newer Conversation schema (one added optional field) while the pipeline
 * keeps running on the current one: the newer events become examples exactly like the current
 * ones, and nothing is dead-lettered.
 */
@RealServices
class SchemaEvolutionPipelineIT {

  @Test
  void eventsOnANewerSchemaBecomeExamplesWhileThePipelineRunsOnTheCurrentOne(KafkaCluster kafka,
      SchemaRegistry registry) throws Exception {
    String s = UUID.randomUUID().toString().substring(0, 8);
    String in = "conversations-" + s;
    String out = "examples-" + s;
    String dlq = "dead-letters-" + s;
    kafka.createTopics(1, in, out, dlq);
    Map<String, String> config = TestConfigs.streamsApp(kafka, registry, "evolution-" + s, in,
        out, dlq, Path.of(System.getProperty("qwen3.dir")), TestDirs.fresh("evolution-state"));

    Schema newer = SchemaEvolutionIT.newerConversationSchema();
    try (StreamsApp app = StreamsApp.start(StreamsAppConfig.of(config));
        SchemaRegistryClient client = registry.client(true)) {
      // The current producers first, then the upgraded ones, while the app keeps running.
      List<String> currentIds = new ArrayList<>();
      List<Conversation> current = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        currentIds.add("current-" + i);
        current.add(Conversation.newBuilder().setId("current-" + i)
            .setMessages(List.of(Messages.of("user", "Bonjour ?", null),
                Messages.of("assistant", "Bonjour !", null)))
            .setCreatedAt(Instant.now()).build());
      }
      Clients.produce(kafka, in, new AvroSerializer<Conversation>(client, false), currentIds,
          current);
      Clients.consume(kafka, out, AvroDeserializer.specific(SftExample.class, client), 5,
          Duration.ofSeconds(60));
      List<String> newerIds = new ArrayList<>();
      List<GenericRecord> upgraded = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        newerIds.add("newer-" + i);
        upgraded.add(SchemaEvolutionIT.newerConversation(newer, "newer-" + i, "fr-FR"));
      }
      Clients.produce(kafka, in, new AvroSerializer<GenericRecord>(client, false), newerIds,
          upgraded);

      List<ConsumerRecord<String, SftExample>> examples = Clients.consume(kafka, out,
          AvroDeserializer.specific(SftExample.class, client), 10, Duration.ofSeconds(60));
      assertThat(examples).extracting(ConsumerRecord::key)
          .containsExactlyElementsOf(concat(currentIds, newerIds));
      // Same messages, same tokens and labels, whichever schema the producer wrote.
      SftExample fromCurrent = examples.get(0).value();
      SftExample fromNewer = examples.get(5).value();
      assertThat(fromNewer.getInputIds()).isEqualTo(fromCurrent.getInputIds());
      assertThat(fromNewer.getLabels()).isEqualTo(fromCurrent.getLabels());
      assertThat(client.schemaByVersion(in + "-value", "2").orElseThrow().schema()
          .getField("locale")).as("the newer schema was registered as version 2").isNotNull();
      assertThat(app.meterRegistry().get("sft.conversations.rejected").counters().stream()
          .mapToDouble(c -> c.count()).sum()).as("dead letters").isZero();
    }
  }

  private static List<String> concat(List<String> a, List<String> b) {
    List<String> out = new ArrayList<>(a);
    out.addAll(b);
    return out;
  }
}
