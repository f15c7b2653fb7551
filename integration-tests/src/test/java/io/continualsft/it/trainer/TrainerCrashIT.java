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
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.service.ExampleAdmission;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Crash equivalence: a trainer (a child JVM) SIGKILLed twice at different points and restarted
 * trains every example exactly once (same steps, examples, tokens and offsets as an uninterrupted
 * run on the same single-partition input), and publishes a final adapter bit-identical to the
 * uninterrupted run's. Both replay (ρ = 0.25): the draws, read back from the topic by offset,
 * repeat after each restart.
 *
 * <p>Twice: in FP32 with activations kept, and with the base weights in BF16 and every layer
 * recomputed in backward (the realistic-size path), whose dropout is drawn per layer from seeds
 * that repeat after a restart.
 *
 * <p>This failed in 3 of 9 runs until scalars in the autograd graph stopped being temporaries
 * the garbage collector could free before backward (see {@code LlamaModel.scalar}).
 */
@RealServices
class TrainerCrashIT {
  private static final int CONVERSATIONS = 400;

  /** ρ: a quarter of each step's examples are drawn back from earlier in the stream. */
  static final double REPLAY = 0.25;

  @ParameterizedTest(name = "precision {0}, recompute {1}")
  @CsvSource({"fp32, off", "bf16, on"})
  void aTrainerKilledTwiceEndsWithTheAdapterOfAnUninterruptedRun(String precision,
      String recompute, KafkaCluster kafka, SchemaRegistry registry) throws Exception {
    Path work = Files.createDirectories(TestDirs.fresh("crash-" + precision));
    Path model = TrainerFixtures.tinyModel(Files.createDirectories(work.resolve("model")));
    TrainerServiceIT.Topics crashed = TrainerServiceIT.Topics.create(kafka);
    TrainerServiceIT.Topics steady = TrainerServiceIT.Topics.create(kafka);
    List<SftExample> examples = TrainerFixtures.examples(model,
        TrainerFixtures.conversations(CONVERSATIONS, "crash"), crashed.examples());
    long trainable = examples.stream()
        .filter(e -> !ExampleAdmission.heldOut(e.getConversationId(), TrainerFixtures.EVAL_FRACTION))
        .count();

    try (SchemaRegistryClient client = registry.client(true)) {
      TrainerFixtures.produce(kafka, client, crashed.examples(), examples);
      TrainerFixtures.produce(kafka, client, steady.examples(), examples);

      // The reference: one uninterrupted run, a child JVM like the crashing one.
      Path steadyFile = TestConfigs.write(work.resolve("steady.properties"),
          TrainerConfig.toProperties(TrainerFixtures.settings(kafka, registry.url(), model,
              steady.examples(), steady.dlq(), steady.checkpoints(), "default",
              "crash-steady-" + steady.examples()).set(TrainerConfig.REPLAY_FRACTION, REPLAY)
              .set(TrainerConfig.PRECISION, precision).set(TrainerConfig.RECOMPUTE.key(), recompute)
              .build()));
      ChildProcess uninterrupted = start(work, steadyFile, "steady");
      try {
        awaitCheckpoint(kafka, client, steady, c -> consumedAll(c, examples.size()), uninterrupted);
      } finally {
        uninterrupted.stop(Duration.ofSeconds(30));
      }
      Checkpoint reference = TrainerServiceIT.newest(kafka, client, steady.checkpoints(), "default")
          .orElseThrow();
      assertThat(reference.manifest().getExamplesTrained()
          + reference.manifest().getMetrics().get("examples_in_skipped_steps").longValue())
          .as("every trainable example trained once or counted in a skipped step").isEqualTo(trainable);
      assertThat(reference.manifest().getMetrics().get("examples_replayed"))
          .as("replay drew examples back, counted apart").isGreaterThan(trainable / 6.0);

      // The same input, a trainer killed with SIGKILL twice.
      Map<String, String> crashConfig = TrainerConfig.toProperties(TrainerFixtures.settings(kafka,
          registry.url(), model, crashed.examples(), crashed.dlq(), crashed.checkpoints(),
          "default", "crash-killed-" + crashed.examples()).set(TrainerConfig.REPLAY_FRACTION, REPLAY)
          .set(TrainerConfig.PRECISION, precision).set(TrainerConfig.RECOMPUTE.key(), recompute)
          .build());
      Path configFile = TestConfigs.write(work.resolve("killed.properties"), crashConfig);
      long afterFirstKill = runAndKill(work, configFile, kafka, client, crashed, 0, 2, trainable);
      long afterSecondKill = runAndKill(work, configFile, kafka, client, crashed, afterFirstKill, 2,
          trainable);
      assertThat(afterSecondKill).isGreaterThan(afterFirstKill);
      ChildProcess last = start(work, configFile, "killed-run-3");
      try {
        awaitCheckpoint(kafka, client, crashed, c -> consumedAll(c, examples.size()), last);
      } finally {
        last.stop(Duration.ofSeconds(30));
      }
      Checkpoint finalCheckpoint = TrainerServiceIT.newest(kafka, client, crashed.checkpoints(),
          "default").orElseThrow();

      // Exactly once, in each run: every trainable example was trained in exactly one applied
      // step or counted in exactly one skipped step, and every record was consumed.
      for (Checkpoint c : List.of(reference, finalCheckpoint)) {
        assertThat(c.manifest().getExamplesTrained()
            + c.manifest().getMetrics().get("examples_in_skipped_steps").longValue())
            .isEqualTo(trainable);
        assertThat(c.manifest().getSourceOffsets().get(0).getOffset()).isEqualTo(examples.size());
      }
      // And the same run: same steps, same metrics, the adapter bit for bit.
      assertThat(finalCheckpoint.manifest().getStep()).isEqualTo(reference.manifest().getStep());
      assertThat(finalCheckpoint.manifest().getExamplesTrained())
          .isEqualTo(reference.manifest().getExamplesTrained());
      assertThat(finalCheckpoint.manifest().getMetrics())
          .isEqualTo(reference.manifest().getMetrics());
      assertThat(finalCheckpoint.files().get(Checkpoint.ADAPTER_WEIGHTS))
          .as("the final adapter, bit for bit")
          .isEqualTo(reference.files().get(Checkpoint.ADAPTER_WEIGHTS));
    }
  }

  /**
   * Starts a trainer, waits until it has published {@code more} checkpoints beyond {@code
   * fromVersion}, kills it with SIGKILL, and returns the newest version then.
   */
  private static long runAndKill(Path work, Path config, KafkaCluster kafka,
      SchemaRegistryClient client, TrainerServiceIT.Topics topics, long fromVersion, int more,
      long trainable) throws Exception {
    ChildProcess child = start(work, config, "killed-from-v" + fromVersion);
    Checkpoint seen = awaitCheckpoint(kafka, client, topics,
        c -> c.version() >= fromVersion + more, child);
    child.kill();
    assertThat(seen.manifest().getExamplesTrained()).as("killed before the end")
        .isLessThan(trainable);
    return TrainerServiceIT.newest(kafka, client, topics.checkpoints(), "default").orElseThrow()
        .version();
  }

  private static boolean consumedAll(Checkpoint c, long records) {
    return c.manifest().getSourceOffsets().get(0).getOffset() == records;
  }

  private static ChildProcess start(Path work, Path config, String run) {
    List<String> command = List.of(JavaRuntime.javaExecutable(),
        "--enable-native-access=ALL-UNNAMED", "-Xmx1g",
        "-Dai.djl.pytorch.num_threads=1", "-Dai.djl.offline=true",
        "-Dorg.slf4j.simpleLogger.log.io.continualsft.trainer=debug",
        "-cp", JavaRuntime.expandedClassPath(),
        "io.continualsft.trainer.cli.TrainerCli", "run", "--config", config.toString());
    // MKL's conditional numerical reproducibility: the same results run after run, whatever the
    // memory alignment, which bit-identical adapters across processes need.
    return ChildProcess.start("trainer-" + run, command, work, work.resolve("trainer-" + run + ".log"),
        Map.of("MKL_CBWR", "AUTO"));
  }

  private static Checkpoint awaitCheckpoint(KafkaCluster kafka, SchemaRegistryClient client,
      TrainerServiceIT.Topics topics, java.util.function.Predicate<Checkpoint> done,
      ChildProcess child) throws Exception {
    Instant deadline = Instant.now().plusSeconds(180);
    while (Instant.now().isBefore(deadline)) {
      if (!child.isAlive()) {
        throw new AssertionError("the trainer exited: " + child.logTail(40));
      }
      Optional<Checkpoint> c = TrainerServiceIT.newest(kafka, client, topics.checkpoints(), "default");
      if (c.isPresent() && done.test(c.get())) {
        return c.get();
      }
      Thread.sleep(200);
    }
    throw new AssertionError("no such checkpoint within 180 s; trainer log:\n" + child.logTail(40));
  }
}
