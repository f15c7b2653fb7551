package io.continualsft.it.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.SftExample;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.it.support.TestConfigs;
import io.continualsft.it.support.TestDirs;
import io.continualsft.local.ChildProcess;
import io.continualsft.local.JavaRuntime;
import io.continualsft.schemas.AdapterPartitions;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.service.ExampleAdmission;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * Many adapters, many trainers: 12 adapters' examples (600) in a topic of 6 partitions,
 * partitioned by adapter as the streams app does, trained by trainers (child JVMs) of one
 * consumer group with {@code adapter.id=*}. Three start together; one is SIGKILLed mid-run and
 * a fourth joins later. Every adapter's last checkpoint accounts for each of its examples
 * exactly once, and is bit-identical to the one a single trainer publishes from the same
 * examples; so is a single trainer's that keeps only 2 of the 12 adapters in memory.
 */
@RealServices
class ManyTrainersIT {
  static final int ADAPTERS = 12;
  static final int EXAMPLES = 600;
  static final int PARTITIONS = 6;

  /** One run's topics: examples by adapter; checkpoints shared by several adapters each. */
  record Run(String examples, String dlq, String checkpoints, String group) {
    static Run create(KafkaCluster kafka, String name) {
      String s = UUID.randomUUID().toString().substring(0, 8);
      Run run = new Run("examples-" + name + "-" + s, "dlq-" + name + "-" + s,
          "checkpoints-" + name + "-" + s, "trainers-" + name + "-" + s);
      kafka.createTopics(PARTITIONS, run.examples);
      kafka.createTopics(3, run.checkpoints);
      kafka.createTopics(1, run.dlq);
      return run;
    }
  }

  @Test
  void trainersOfOneGroupKilledAndJoiningEndWithTheAdaptersOfOneTrainer(KafkaCluster kafka,
      SchemaRegistry registry) throws Exception {
    Path work = Files.createDirectories(TestDirs.fresh("many-trainers"));
    Path model = TrainerFixtures.tinyModel(Files.createDirectories(work.resolve("model")));
    List<SftExample> examples = new ArrayList<>();
    List<SftExample> labelled = TrainerFixtures.examples(model,
        TrainerFixtures.conversations(EXAMPLES, "mt"), "unused");
    for (int i = 0; i < labelled.size(); i++) {
      examples.add(SftExample.newBuilder(labelled.get(i)).setAdapter(adapter(i)).build());
    }
    Map<String, Long> trainable = new TreeMap<>();
    for (SftExample e : examples) {
      trainable.merge(e.getAdapter(), ExampleAdmission.heldOut(e.getConversationId(),
          TrainerFixtures.EVAL_FRACTION) ? 0L : 1L, Long::sum);
    }
    Run single = Run.create(kafka, "single");
    Run evicting = Run.create(kafka, "evicting");
    Run many = Run.create(kafka, "many");
    try (SchemaRegistryClient client = registry.client(true)) {
      for (Run run : List.of(single, evicting, many)) {
        produce(kafka, client, run.examples(), examples);
      }

      // The reference: one trainer, every adapter resident.
      ChildProcess one = start(work, config(work, kafka, registry, model, single, 12, "t0"),
          "single");
      awaitAllCommitted(kafka, single, List.of(one));
      one.stop(Duration.ofSeconds(30));
      Map<String, Checkpoint> reference = finals(kafka, client, single);
      assertExactlyOnce(reference, trainable);

      // One trainer, 2 of 12 adapters resident: evicted and restored again and again.
      ChildProcess two = start(work, config(work, kafka, registry, model, evicting, 2, "t0"),
          "evicting");
      awaitAllCommitted(kafka, evicting, List.of(two));
      two.stop(Duration.ofSeconds(30));
      assertThat(count(two.logFile(), "evicted at checkpoint")).as("evictions")
          .isGreaterThan(ADAPTERS);
      assertSameAdapters(finals(kafka, client, evicting), reference);

      // Three trainers of one group; the first is killed, a fourth joins later.
      List<ChildProcess> trainers = new ArrayList<>();
      for (int t = 1; t <= 3; t++) {
        trainers.add(start(work, config(work, kafka, registry, model, many, 4, "t" + t),
            "many-" + t));
      }
      ChildProcess victim = trainers.getFirst();
      await(() -> count(victim.logFile(), "checkpoint v") >= 3, "3 checkpoints by trainer 1",
          trainers);
      victim.kill();
      int before = count(trainers.get(1).logFile(), "checkpoint v")
          + count(trainers.get(2).logFile(), "checkpoint v");
      await(() -> count(trainers.get(1).logFile(), "checkpoint v")
          + count(trainers.get(2).logFile(), "checkpoint v") >= before + 4,
          "4 more checkpoints after the kill", trainers.subList(1, 3));
      trainers.add(start(work, config(work, kafka, registry, model, many, 4, "t4"), "many-4"));
      List<ChildProcess> alive = trainers.subList(1, 4);
      awaitAllCommitted(kafka, many, alive);
      alive.forEach(t -> t.stop(Duration.ofSeconds(30)));
      assertThat(count(trainers.get(3).logFile(), "assigned [")).as("the late joiner got"
          + " partitions").isPositive();
      Map<String, Checkpoint> shared = finals(kafka, client, many);
      assertExactlyOnce(shared, trainable);
      assertSameAdapters(shared, reference);
    }
  }

  static String adapter(int i) {
    return "tenant-" + (i * 5 % ADAPTERS);
  }

  /** As the streams app writes them: keyed by conversation, partitioned by adapter. */
  static void produce(KafkaCluster kafka, SchemaRegistryClient registry, String topic,
      List<SftExample> examples) throws Exception {
    TrainerFixtures.produce(kafka, registry, topic, examples,
        e -> AdapterPartitions.partitionFor(e.getAdapter(), PARTITIONS));
  }

  static Path config(Path work, KafkaCluster kafka, SchemaRegistry registry, Path model, Run run,
      int resident, String trainer) {
    TrainerSettings settings = TrainerFixtures.settings(kafka, registry.url(), model,
            run.examples(), run.dlq(), run.checkpoints(), TrainerSettings.EVERY_ADAPTER,
            run.group() + "-" + trainer)
        .set(TrainerConfig.GROUP_ID, run.group())
        .set(TrainerConfig.MAX_RESIDENT_ADAPTERS, resident)
        .set(TrainerConfig.STEP_TOKENS, 40)
        .set(TrainerConfig.CHECKPOINT_EVERY_STEPS, 3)
        .set(TrainerConfig.PROGRESS_EVERY_STEPS, 5)
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .set("transaction.timeout.ms", "10000")
        .build();
    return TestConfigs.write(work.resolve(run.group() + "-" + trainer + ".properties"),
        TrainerConfig.toProperties(settings));
  }

  static ChildProcess start(Path work, Path config, String name) {
    List<String> command = List.of(JavaRuntime.javaExecutable(),
        "--enable-native-access=ALL-UNNAMED", "-Xmx512m",
        "-Dai.djl.pytorch.num_threads=1", "-Dai.djl.offline=true",
        "-cp", JavaRuntime.expandedClassPath(),
        "io.continualsft.trainer.cli.TrainerCli", "run", "--config", config.toString());
    return ChildProcess.start("trainer-" + name, command, work,
        work.resolve("trainer-" + name + ".log"), Map.of("MKL_CBWR", "AUTO"));
  }

  /** Until the group's committed offsets reach the end of every partition: all accounted for. */
  static void awaitAllCommitted(KafkaCluster kafka, Run run, List<ChildProcess> trainers)
      throws Exception {
    Map<TopicPartition, OffsetSpec> latest = new LinkedHashMap<>();
    for (int p = 0; p < PARTITIONS; p++) {
      latest.put(new TopicPartition(run.examples(), p), OffsetSpec.latest());
    }
    Map<TopicPartition, Long> end = new LinkedHashMap<>();
    kafka.admin().listOffsets(latest).all().get().forEach((tp, o) -> end.put(tp, o.offset()));
    await(() -> {
      try {
        Map<TopicPartition, OffsetAndMetadata> committed = kafka.admin()
            .listConsumerGroupOffsets(run.group(), new ListConsumerGroupOffsetsOptions()
                .requireStable(true)).partitionsToOffsetAndMetadata().get();
        return end.entrySet().stream().allMatch(e -> committed.get(e.getKey()) != null
            && committed.get(e.getKey()).offset() == e.getValue());
      } catch (Exception e) {
        return false;
      }
    }, "the group's offsets at the end of " + run.examples(), trainers);
  }

  static void await(BooleanSupplier done, String what, List<ChildProcess> trainers)
      throws InterruptedException {
    Instant deadline = Instant.now().plusSeconds(300);
    while (!done.getAsBoolean()) {
      for (ChildProcess t : trainers) {
        if (!t.isAlive()) {
          throw new AssertionError(t.name() + " exited:\n" + t.logTail(60));
        }
      }
      if (Instant.now().isAfter(deadline)) {
        StringBuilder logs = new StringBuilder();
        trainers.forEach(t -> logs.append(t.name()).append(":\n").append(t.logTail(30)));
        throw new AssertionError("not within 300 s: " + what + "\n" + logs);
      }
      Thread.sleep(250);
    }
  }

  static int count(Path log, String needle) {
    try {
      return (int) Files.readAllLines(log).stream().filter(l -> l.contains(needle)).count();
    } catch (java.io.IOException e) {
      return 0;
    }
  }

  static Map<String, Checkpoint> finals(KafkaCluster kafka, SchemaRegistryClient client,
      Run run) {
    Map<String, Checkpoint> out = new TreeMap<>();
    for (int i = 0; i < ADAPTERS; i++) {
      String adapter = "tenant-" + i;
      out.put(adapter, TrainerServiceIT.newest(kafka, client, run.checkpoints(), adapter)
          .orElseThrow(() -> new AssertionError("no checkpoint of " + adapter)));
    }
    return out;
  }

  /** Every trainable example of each adapter trained once, or counted in a skipped step. */
  static void assertExactlyOnce(Map<String, Checkpoint> finals, Map<String, Long> trainable) {
    assertThat(finals.keySet()).isEqualTo(trainable.keySet());
    finals.forEach((adapter, c) -> assertThat(c.manifest().getExamplesTrained()
        + c.manifest().getMetrics().get("examples_in_skipped_steps").longValue())
        .as(adapter).isEqualTo(trainable.get(adapter)));
  }

  static void assertSameAdapters(Map<String, Checkpoint> actual,
      Map<String, Checkpoint> expected) {
    assertThat(actual.keySet()).isEqualTo(expected.keySet());
    expected.forEach((adapter, e) -> {
      Checkpoint a = actual.get(adapter);
      assertThat(a.manifest().getStep()).as(adapter + " steps").isEqualTo(e.manifest().getStep());
      assertThat(a.manifest().getTokensTrained()).as(adapter + " tokens")
          .isEqualTo(e.manifest().getTokensTrained());
      assertThat(a.files().get(Checkpoint.ADAPTER_WEIGHTS))
          .as(adapter + ": the adapter, bit for bit")
          .isEqualTo(e.files().get(Checkpoint.ADAPTER_WEIGHTS));
      assertThat(a.files().get(Checkpoint.OPTIMIZER)).as(adapter + ": the moments")
          .isEqualTo(e.files().get(Checkpoint.OPTIMIZER));
    });
  }
}
