package io.continualsft.it.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.SftExample;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.it.support.TestConfigs;
import io.continualsft.it.support.TestDirs;
import io.continualsft.it.trainer.TrainerFixtures;
import io.continualsft.it.trainer.TrainerServiceIT;
import io.continualsft.local.ChildProcess;
import io.continualsft.local.JavaRuntime;
import io.continualsft.local.KafkaBroker;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.service.ExampleAdmission;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * The whole pipeline under faults, each service a child JVM: conversations in, the streams app
 * SIGKILLed and restarted, the trainer SIGKILLed and restarted, the broker stopped and restarted
 * while events are in flight. Read with read_committed, every conversation becomes exactly one
 * example, and the trainer's last checkpoint has trained (or held out) each example exactly once.
 */
@RealServices
class PipelineFaultsIT {
  private static final int PER_BATCH = 100;
  private static final double EVAL_FRACTION = TrainerFixtures.EVAL_FRACTION;
  private static final Duration PATIENCE = Duration.ofSeconds(180);

  @Test
  void killedServicesAndABrokerRestartLoseAndRepeatNothing(KafkaCluster kafka,
      SchemaRegistry registry) throws Exception {
    Path work = Files.createDirectories(TestDirs.fresh("faults"));
    Path model = TrainerFixtures.tinyModel(Files.createDirectories(work.resolve("model")));
    String s = UUID.randomUUID().toString().substring(0, 8);
    String conversations = "conversations-" + s;
    String examples = "examples-" + s;
    String checkpoints = "checkpoints-" + s;
    kafka.createTopics(1, conversations, examples, "conversations-dlq-" + s, "examples-dlq-" + s,
        checkpoints);

    Map<String, String> streams = TestConfigs.streamsApp(kafka, registry, "faults-" + s,
        conversations, examples, "conversations-dlq-" + s, model, work.resolve("streams-state"));
    streams.put("metrics.port", "0");
    Path streamsConfig = TestConfigs.write(work.resolve("streams.properties"), streams);
    Path trainerConfig = TestConfigs.write(work.resolve("trainer.properties"),
        TrainerConfig.toProperties(TrainerFixtures.settings(kafka, registry.url(), model, examples,
            "examples-dlq-" + s, checkpoints, "default", "faults-" + s).build()));

    List<Conversation> sent = new ArrayList<>();
    List<ChildProcess> children = new ArrayList<>();
    try (SchemaRegistryClient client = registry.client(true);
        KafkaProducer<String, Conversation> producer = new KafkaProducer<>(Map.<String, Object>of(
            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
            ProducerConfig.ACKS_CONFIG, "all",
            ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true),
            new StringSerializer(), new AvroSerializer<Conversation>(client, false))) {
      ChildProcess streamsApp = start(children, work, "streams-1", "io.continualsft.streams.cli"
          + ".StreamsAppCli", streamsConfig);
      ChildProcess trainer = start(children, work, "trainer-1", "io.continualsft.trainer.cli"
          + ".TrainerCli", trainerConfig);

      // 1. The streams app is SIGKILLed mid-stream, with a transaction likely open.
      send(producer, conversations, TrainerFixtures.conversations(PER_BATCH, "batch1"), sent);
      await("some examples out", () -> committed(kafka, examples) >= PER_BATCH / 3, streamsApp);
      streamsApp.kill();
      streamsApp = start(children, work, "streams-2", "io.continualsft.streams.cli"
          + ".StreamsAppCli", streamsConfig);

      // 2. The trainer is SIGKILLed after its first checkpoint.
      send(producer, conversations, TrainerFixtures.conversations(PER_BATCH, "batch2"), sent);
      await("a first checkpoint", () -> newest(kafka, client, checkpoints).isPresent(), trainer);
      trainer.kill();
      trainer = start(children, work, "trainer-2", "io.continualsft.trainer.cli.TrainerCli",
          trainerConfig);

      // 3. The broker stops while a batch is in flight, and comes back: the producer's sends
      // block meanwhile (on a thread of their own), the services retry.
      List<Conversation> third = TrainerFixtures.conversations(PER_BATCH, "batch3");
      CompletableFuture<Void> sending = CompletableFuture.runAsync(() -> {
        for (Conversation c : third) {
          producer.send(new ProducerRecord<>(conversations, c.getId(), c));
        }
        producer.flush();
      });
      Optional<KafkaBroker> broker = kafka.embeddedBroker();
      if (broker.isPresent()) {
        broker.get().stop();
        Thread.sleep(3000);
        broker.get().restart();
      }
      sending.get(150, TimeUnit.SECONDS);
      sent.addAll(third);

      ChildProcess finalStreams = streamsApp;
      ChildProcess finalTrainer = trainer;
      await("every conversation an example", () -> committed(kafka, examples) >= sent.size(),
          finalStreams);
      long end = committedEnd(kafka, examples);
      await("a checkpoint through the end of the examples", () -> newest(kafka, client,
          checkpoints).map(c -> c.manifest().getSourceOffsets().get(0).getOffset() >= end)
          .orElse(false), finalTrainer);

      // Exactly once, end to end.
      List<String> ids = readAll(kafka, client, examples).stream()
          .map(SftExample::getConversationId).toList();
      assertThat(ids).as("one example per conversation, none repeated")
          .hasSize(sent.size())
          .containsExactlyInAnyOrderElementsOf(sent.stream().map(Conversation::getId).toList());
      Checkpoint last = newest(kafka, client, checkpoints).orElseThrow();
      long trainable = ids.stream().filter(id -> !ExampleAdmission.heldOut(id, EVAL_FRACTION)).count();
      assertThat(last.manifest().getExamplesTrained()
          + last.manifest().getMetrics().get("examples_in_skipped_steps").longValue())
          .as("every trainable example trained once, across two trainer processes")
          .isEqualTo(trainable);
      assertThat(committed(kafka, "conversations-dlq-" + s)).as("no dead letters").isZero();
    } finally {
      children.forEach(c -> c.stop(Duration.ofSeconds(20)));
    }
  }

  private static void send(KafkaProducer<String, Conversation> producer, String topic,
      List<Conversation> batch, List<Conversation> sent) throws Exception {
    for (Conversation c : batch) {
      producer.send(new ProducerRecord<>(topic, c.getId(), c)).get();
    }
    sent.addAll(batch);
  }

  private static ChildProcess start(List<ChildProcess> children, Path work, String name,
      String mainClass, Path config) {
    List<String> command = List.of(JavaRuntime.javaExecutable(),
        "--enable-native-access=ALL-UNNAMED", "-Xmx1g",
        "-Dai.djl.pytorch.num_threads=1", "-Dai.djl.offline=true",
        "-cp", JavaRuntime.expandedClassPath(), mainClass, "run", "--config", config.toString());
    ChildProcess child = ChildProcess.start(name, command, work, work.resolve(name + ".log"));
    children.add(child);
    return child;
  }

  private static void await(String what, BooleanSupplier done, ChildProcess child)
      throws InterruptedException {
    Instant deadline = Instant.now().plus(PATIENCE);
    while (!done.getAsBoolean()) {
      if (!child.isAlive()) {
        throw new AssertionError(child.name() + " exited while waiting for " + what + ":\n"
            + child.logTail(40));
      }
      if (Instant.now().isAfter(deadline)) {
        throw new AssertionError("no " + what + " within " + PATIENCE + "; " + child.name()
            + " log:\n" + child.logTail(40));
      }
      Thread.sleep(250);
    }
  }

  /** The read_committed end offset of a one-partition topic. */
  private static long committedEnd(KafkaCluster kafka, String topic) {
    try (var consumer = consumer(kafka)) {
      TopicPartition p = new TopicPartition(topic, 0);
      return consumer.endOffsets(List.of(p)).get(p);
    }
  }

  /** How many committed records a one-partition topic holds. */
  private static long committed(KafkaCluster kafka, String topic) {
    try (var consumer = consumer(kafka)) {
      TopicPartition p = new TopicPartition(topic, 0);
      consumer.assign(List.of(p));
      consumer.seekToBeginning(List.of(p));
      long end = consumer.endOffsets(List.of(p)).get(p);
      long count = 0;
      while (consumer.position(p) < end) {
        count += consumer.poll(Duration.ofMillis(200)).count();
      }
      return count;
    }
  }

  private static List<SftExample> readAll(KafkaCluster kafka, SchemaRegistryClient client,
      String topic) {
    AvroDeserializer<SftExample> values = AvroDeserializer.specific(SftExample.class, client);
    List<SftExample> out = new ArrayList<>();
    try (var consumer = consumer(kafka)) {
      TopicPartition p = new TopicPartition(topic, 0);
      consumer.assign(List.of(p));
      consumer.seekToBeginning(List.of(p));
      long end = consumer.endOffsets(List.of(p)).get(p);
      while (consumer.position(p) < end) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          out.add(values.deserialize(topic, r.value()));
        }
      }
    }
    return out;
  }

  private static KafkaConsumer<byte[], byte[]> consumer(KafkaCluster kafka) {
    return new KafkaConsumer<>(Map.<String, Object>of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"),
        new ByteArrayDeserializer(), new ByteArrayDeserializer());
  }

  private static Optional<Checkpoint> newest(KafkaCluster kafka, SchemaRegistryClient client,
      String topic) {
    return TrainerServiceIT.newest(kafka, client, topic, "default");
  }
}
