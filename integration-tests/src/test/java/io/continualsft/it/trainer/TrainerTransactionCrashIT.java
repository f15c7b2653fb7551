package io.continualsft.it.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.continualsft.avro.CheckpointManifest;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.SftExample;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.it.support.TestDirs;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.service.ExampleAdmission;
import io.continualsft.trainer.service.TrainerService;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.Producer;
import org.junit.jupiter.api.Test;

/**
 * A trainer that dies after beginTransaction and before commitTransaction (its checkpoint's
 * chunks, manifest and offsets sent, nothing committed) leaves nothing a reader can see; the next
 * trainer with the same transactional id aborts that transaction when it starts, resumes from the
 * checkpoint before it, and trains every example exactly once.
 */
@RealServices
class TrainerTransactionCrashIT {

  /** The producer, except that its {@code failAt}-th commitTransaction dies instead. */
  @SuppressWarnings("unchecked")
  private static Producer<String, Object> dyingAtCommit(Producer<String, Object> real, int failAt,
      AtomicInteger commits) {
    return (Producer<String, Object>) Proxy.newProxyInstance(
        TrainerTransactionCrashIT.class.getClassLoader(), new Class<?>[] {Producer.class},
        (proxy, method, args) -> {
          if (method.getName().equals("commitTransaction")
              && commits.incrementAndGet() == failAt) {
            throw new IllegalStateException("simulated death between beginTransaction and"
                + " commitTransaction");
          }
          try {
            return method.invoke(real, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        });
  }

  @Test
  void aTrainerKilledInsideItsTransactionResumesFromThePreviousCheckpoint(KafkaCluster kafka,
      SchemaRegistry registry) throws Exception {
    Path model = TrainerFixtures.tinyModel(Files.createDirectories(TestDirs.fresh("txn-model")));
    TrainerServiceIT.Topics t = TrainerServiceIT.Topics.create(kafka);
    List<SftExample> examples = TrainerFixtures.examples(model,
        TrainerFixtures.conversations(60, "txn"), t.examples());
    try (SchemaRegistryClient client = registry.client(true)) {
      TrainerFixtures.produce(kafka, client, t.examples(), examples);
      TrainerSettings settings = TrainerFixtures.settings(kafka, registry.url(), model,
          t.examples(), t.dlq(), t.checkpoints(), "default", "it-txn-" + t.examples()).build();

      AtomicInteger commits = new AtomicInteger();
      try (TrainerService dying = TrainerService.create(settings,
          real -> dyingAtCommit(real, 2, commits))) {
        assertThatThrownBy(() -> dying.run(() -> false))
            .hasMessageContaining("simulated death");
        assertThat(dying.state()).isEqualTo("FAILED");
      }
      assertThat(commits.get()).isEqualTo(2);
      Checkpoint survivor = TrainerServiceIT.newest(kafka, client, t.checkpoints(), "default")
          .orElseThrow();
      assertThat(survivor.version()).as("v2 was never committed").isEqualTo(1);

      TrainerService resumed = TrainerServiceIT.runUntil(settings, kafka, client, t.checkpoints(),
          "default", c -> c.manifest().getSourceOffsets().get(0).getOffset() == examples.size());
      resumed.close();

      Checkpoint last = TrainerServiceIT.newest(kafka, client, t.checkpoints(), "default")
          .orElseThrow();
      long trainable = examples.stream()
          .filter(e -> !ExampleAdmission.heldOut(e.getConversationId(),
              TrainerFixtures.EVAL_FRACTION)).count();
      assertThat(last.manifest().getExamplesTrained()
          + last.manifest().getMetrics().get("examples_in_skipped_steps").longValue())
          .as("every trainable example trained once across both trainers").isEqualTo(trainable);
      // read_committed sees each version once, in order: the dead trainer's v2 is gone.
      List<Long> versions = manifestVersions(kafka, client, t.checkpoints());
      assertThat(versions).isEqualTo(java.util.stream.LongStream.rangeClosed(1, last.version())
          .boxed().toList());
    }
  }

  /** The versions of every committed manifest in a one-partition checkpoint topic, in order. */
  private static List<Long> manifestVersions(KafkaCluster kafka, SchemaRegistryClient client,
      String topic) {
    List<Long> versions = new java.util.ArrayList<>();
    try (var consumer = new org.apache.kafka.clients.consumer.KafkaConsumer<>(java.util.Map.<String,
        Object>of(org.apache.kafka.clients.consumer.ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
            kafka.bootstrapServers(),
            org.apache.kafka.clients.consumer.ConsumerConfig.ISOLATION_LEVEL_CONFIG,
            "read_committed"),
        new org.apache.kafka.common.serialization.StringDeserializer(),
        AvroDeserializer.specific(CheckpointRecord.class, client))) {
      var tp = new org.apache.kafka.common.TopicPartition(topic, 0);
      consumer.assign(List.of(tp));
      consumer.seekToBeginning(List.of(tp));
      long end = consumer.endOffsets(List.of(tp)).get(tp);
      while (consumer.position(tp) < end) {
        for (var r : consumer.poll(Duration.ofMillis(200))) {
          if (r.value().getPayload() instanceof CheckpointManifest) {
            versions.add(r.value().getVersion());
          }
        }
      }
    }
    return versions;
  }
}
