package io.continualsft.it.local;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.Conversation;
import io.continualsft.it.support.TestDirs;
import io.continualsft.local.FreePorts;
import io.continualsft.local.KafkaBroker;
import io.continualsft.local.SchemaRegistryServer;
import io.continualsft.local.Topics;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * The launchers themselves, on their own instances (not the shared ones the other tests use):
 * they start, serve, stop without leaving a process or a bound port, and the broker keeps its
 * data across a controlled stop and across a SIGKILL.
 */
class LocalServicesIT {
  private static final int RECORDS = 200;

  @Test
  void brokerStartsServesSurvivesStopAndKillAndStopsCleanly() throws Exception {
    KafkaBroker broker = KafkaBroker.start(TestDirs.fresh("kafka-lifecycle"));
    try {
      System.out.printf("embedded Kafka broker ready in %d ms%n", broker.lastStartup().toMillis());
      String topic = "lifecycle";
      try (Admin admin = admin(broker)) {
        Topics.createAndAwait(admin, List.of(Topics.topic(topic, 2)), Duration.ofSeconds(60));
      }
      produce(broker, topic);
      assertThat(readAll(broker, topic)).hasSize(RECORDS);

      long firstPid = broker.pid();
      broker.stop();
      assertThat(ProcessHandle.of(firstPid).map(ProcessHandle::isAlive).orElse(false)).isFalse();
      assertThat(FreePorts.inUse(broker.port())).as("port released after stop").isFalse();

      broker.restart();
      System.out.printf("embedded Kafka broker restarted in %d ms%n",
          broker.lastStartup().toMillis());
      assertThat(readAll(broker, topic)).as("records after a controlled stop").hasSize(RECORDS);

      broker.kill();
      assertThat(broker.isRunning()).isFalse();
      broker.restart();
      System.out.printf("embedded Kafka broker recovered from SIGKILL in %d ms%n",
          broker.lastStartup().toMillis());
      List<String> values = readAll(broker, topic).stream().map(ConsumerRecord::value).toList();
      assertThat(values).as("records after SIGKILL")
          .containsExactlyInAnyOrderElementsOf(
              IntStream.range(0, RECORDS).mapToObj(i -> "value-" + i).toList());
    } finally {
      broker.stop();
    }
    assertThat(broker.isRunning()).isFalse();
    assertThat(FreePorts.inUse(broker.port())).isFalse();
  }

  @Test
  void registryStartsAnswersTheConfluentApiAndStopsCleanly() {
    SchemaRegistryServer registry = SchemaRegistryServer.start(TestDirs.fresh("registry-lifecycle"));
    long pid = registry.pid();
    try {
      System.out.printf("Apicurio registry ready in %d ms%n", registry.lastStartup().toMillis());
      assertThat(registry.url()).startsWith("http://127.0.0.1:").endsWith("/apis/ccompat/v7");
      try (SchemaRegistryClient client =
          new SchemaRegistryClient(SchemaRegistryConfig.forUrl(registry.url(), true))) {
        int id = client.register("lifecycle-value", Conversation.getClassSchema());
        assertThat(client.schemaById(id)).isEqualTo(Conversation.getClassSchema());
        assertThat(client.subjects()).containsExactly("lifecycle-value");
      }
    } finally {
      registry.stop();
    }
    assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).isFalse();
    assertThat(FreePorts.inUse(registry.port())).isFalse();
  }

  private static Admin admin(KafkaBroker broker) {
    return Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers()));
  }

  private static void produce(KafkaBroker broker, String topic)
      throws ExecutionException, InterruptedException {
    Map<String, Object> config = Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers(),
        ProducerConfig.ACKS_CONFIG, "all");
    try (var producer =
        new KafkaProducer<>(config, new StringSerializer(), new StringSerializer())) {
      for (int i = 0; i < RECORDS; i++) {
        producer.send(new ProducerRecord<>(topic, "key-" + i, "value-" + i));
      }
      producer.flush();
      producer.send(new ProducerRecord<>(topic, "probe", "probe")).get();
    }
  }

  /** Every record but the flush probe, read from the beginning. */
  private static List<ConsumerRecord<String, String>> readAll(KafkaBroker broker, String topic) {
    Map<String, Object> config = Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers(),
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    try (var consumer =
        new KafkaConsumer<>(config, new StringDeserializer(), new StringDeserializer())) {
      List<TopicPartition> partitions = List.of(
          new TopicPartition(topic, 0), new TopicPartition(topic, 1));
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
      List<ConsumerRecord<String, String>> out = new java.util.ArrayList<>();
      java.time.Instant deadline = java.time.Instant.now().plusSeconds(60);
      while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p))
          && java.time.Instant.now().isBefore(deadline)) {
        consumer.poll(Duration.ofMillis(200)).forEach(out::add);
      }
      return out.stream().filter(r -> !r.key().equals("probe")).toList();
    }
  }
}
