package io.continualsft.it.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.AdapterRelease;
import io.continualsft.avro.CheckpointManifest;
import io.continualsft.avro.LineageEntry;
import io.continualsft.avro.SftExample;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.it.support.TestConfigs;
import io.continualsft.it.support.TestDirs;
import io.continualsft.local.ChildProcess;
import io.continualsft.local.JavaRuntime;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointReader;
import io.continualsft.trainer.cli.TrainerCli;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.release.ReleaseLog;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.UUID;
import java.util.function.Predicate;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Exact unlearning on the real broker and registry: two adapters in one partition; one subject's
 * conversations early, in the middle and late in one adapter's stream; replay at ρ = 0.25. A
 * trainer ({@code adapter.id=*}) trains the whole stream; {@code trainer-service forget
 * --subject} asks it to forget them; it revokes every version they reached, goes back to the
 * newest version without them and retrains forward (in one case restarted before the request,
 * knowing no adapter then; in the other killed with SIGKILL during the retraining and started
 * again). Its final adapter and optimizer moments are then byte-identical
 * to those of a fresh trainer run over the same log that knew of the request from the start; the
 * other adapter was not retrained; no kept version names the subject in its lineage; the
 * release moved off the revoked versions and {@code release --to} one of them is refused.
 */
@RealServices
class ErasureIT {
  private static final int CONVERSATIONS = 200;
  private static final String SUBJECT = "subject-7f3a";

  /**
   * {@code early}: the first tainted version has no parent, so the adapter goes back to a fresh
   * one; without the early conversation it goes back to a version in the middle, and the trainer
   * is killed during the retraining.
   */
  @ParameterizedTest(name = "subject's first conversation early: {0}")
  @ValueSource(booleans = {true, false})
  void forgettingASubjectEndsWithTheAdapterOfARunThatNeverSawIt(boolean early,
      KafkaCluster kafka, SchemaRegistry registry) throws Exception {
    Path work = Files.createDirectories(TestDirs.fresh("erasure"));
    Path model = TrainerFixtures.tinyModel(Files.createDirectories(work.resolve("model")));
    TrainerServiceIT.Topics forgetting = TrainerServiceIT.Topics.create(kafka);
    TrainerServiceIT.Topics fresh = TrainerServiceIT.Topics.create(kafka);
    String s = UUID.randomUUID().toString().substring(0, 8);
    String forgettingRequests = "erasure-" + s;
    String freshRequests = "erasure-fresh-" + s;
    kafka.createTopics(1, forgettingRequests, freshRequests);
    List<SftExample> examples = new ArrayList<>(TrainerFixtures.examples(model,
        TrainerFixtures.conversations(CONVERSATIONS, "erase"), forgetting.examples()));
    // Every fifth conversation trains the other adapter; the subject's train "default": early,
    // in the middle, late.
    List<Integer> theirs = early ? List.of(trainedAt(6), trainedAt(CONVERSATIONS / 2),
        trainedAt(CONVERSATIONS - 14)) : List.of(trainedAt(CONVERSATIONS / 2),
        trainedAt(CONVERSATIONS - 14));
    for (int i = 0; i < examples.size(); i++) {
      SftExample e = examples.get(i);
      e.setSubject(theirs.contains(i) ? SUBJECT : "subject-" + (i % 17));
      if (i % 5 == 0) {
        e.setAdapter("other");
      }
    }
    assertThat(theirs).as("the subject's conversations train \"default\"; none is held out")
        .allMatch(i -> i % 5 != 0).noneMatch(i -> io.continualsft.trainer.service.ExampleAdmission
            .heldOut("erase-" + i, TrainerFixtures.EVAL_FRACTION));
    try (SchemaRegistryClient client = registry.client(true)) {
      TrainerFixtures.produce(kafka, client, forgetting.examples(), examples);
      TrainerFixtures.produce(kafka, client, fresh.examples(), examples);

      // The trainer that learns, then forgets.
      Path config = config(work, "forgetting", kafka, registry, model, forgetting,
          forgettingRequests);
      ChildProcess trainer = start(work, config, "forgetting");
      try {
        long all = trainable(examples, "default", false);
        long allButTheirs = trainable(examples, "default", true);
        long others = trainable(examples, "other", false);
        Checkpoint before = await(kafka, client, forgetting, "default", c -> trained(c, all),
            trainer);
        Checkpoint otherBefore = await(kafka, client, forgetting, "other",
            c -> trained(c, others), trainer);
        assertThat(lineageOf(kafka, registry, forgetting.checkpoints(), "default",
            before.version())).as("before: the subject reached the adapter")
            .anyMatch(e -> SUBJECT.equals(String.valueOf(e.getSubject())));
        if (early) {
          // Restarted: every example is in a checkpoint, so it reads none and knows no adapter
          // when the request comes; it finds the touched one in the checkpoints' lineage.
          trainer.stop(Duration.ofSeconds(30));
          trainer = start(work, config, "forgetting-restarted");
        }
        assertThat(TrainerCli.commandLine().execute("forget", "--bootstrap",
            kafka.bootstrapServers(), "--registry", registry.url(), "--subject", SUBJECT,
            "--reason", "GDPR Art. 17 request", "--id", "req-1", "--erasure-topic",
            forgettingRequests)).isZero();
        if (!early) {
          // Killed while it retrains: the rewind committed, some versions after it or none.
          await(kafka, client, forgetting, "default", c -> !c.manifest().getRevokes().isEmpty()
              || c.version() > before.version() + 1, trainer);
          trainer.kill();
          trainer = start(work, config, "forgetting-again");
        }
        Checkpoint after = await(kafka, client, forgetting, "default",
            c -> c.version() > before.version() + 1 && trained(c, allButTheirs)
                && c.manifest().getErasuresThrough() > 0, trainer);
        trainer.stop(Duration.ofSeconds(30));

        SortedMap<Long, CheckpointManifest> manifests = manifests(kafka, registry,
            forgetting.checkpoints(), "default");
        List<Long> revoked = manifests.values().stream()
            .flatMap(m -> m.getRevokes().stream()).toList();
        assertThat(revoked).as("every version the subject reached is revoked").isNotEmpty()
            .contains(before.version());
        CheckpointManifest rewind = manifests.values().stream()
            .filter(m -> !m.getRevokes().isEmpty()).findFirst().orElseThrow();
        assertThat(rewind.getParentVersion()).as("went back to a fresh adapter, or to a version"
            + " before the subject's first conversation").isEqualTo(early ? null
            : revoked.getFirst() - 1);
        assertThat(revoked).as("the versions from the first the subject reached to the last")
            .isEqualTo(java.util.stream.LongStream.rangeClosed(revoked.getFirst(),
                before.version()).boxed().toList());
        assertThat(lineageOf(kafka, registry, forgetting.checkpoints(), "default",
            after.version())).as("after: no kept version names the subject")
            .noneMatch(e -> SUBJECT.equals(String.valueOf(e.getSubject())));

        String lineage = printed(() -> TrainerCli.commandLine().execute("lineage", "--bootstrap",
            kafka.bootstrapServers(), "--registry", registry.url(), "--topic",
            forgetting.checkpoints(), "--subject", SUBJECT));
        for (long v : revoked) {
          assertThat(lineage).containsPattern("(?m)^default\\s+v" + v + "\\s.*revoked by v"
              + rewindVersion(manifests));
        }
        assertThat(lineage).doesNotContain("NOT REVOKED").doesNotContain("other ")
            .contains(revoked.size() + " versions reached by subject " + SUBJECT);

        // The other adapter was not retrained, and nothing of it was revoked.
        Checkpoint otherAfter = TrainerServiceIT.newest(kafka, client, forgetting.checkpoints(),
            "other").orElseThrow();
        assertThat(otherAfter.manifest().getStep()).isEqualTo(otherBefore.manifest().getStep());
        assertThat(otherAfter.files().get(Checkpoint.ADAPTER_WEIGHTS))
            .isEqualTo(otherBefore.files().get(Checkpoint.ADAPTER_WEIGHTS));
        assertThat(manifests(kafka, registry, forgetting.checkpoints(), "other").values())
            .allMatch(m -> m.getRevokes().isEmpty());

        // Serving: the release is not a revoked version, and none can be released by hand.
        try (ReleaseLog releases = ReleaseLog.open(kafka.bootstrapServers(),
            SchemaRegistryConfig.fromMap(Map.of(SchemaRegistryConfig.URL, registry.url())),
            TrainerFixtures.releasesTopic(forgetting.checkpoints()), Map.of())) {
          AdapterRelease current = releases.current("default").orElseThrow();
          assertThat(current.getRevoked()).containsExactlyElementsOf(revoked);
          assertThat(revoked).doesNotContain(current.getVersion());
        }
        assertThat(TrainerCli.commandLine().execute("release", "--bootstrap",
            kafka.bootstrapServers(), "--registry", registry.url(), "--topic",
            forgetting.checkpoints(), "--releases-topic",
            TrainerFixtures.releasesTopic(forgetting.checkpoints()), "--to",
            String.valueOf(before.version()))).as("release --to a revoked version").isEqualTo(1);

        // The reference: a fresh trainer over the same log, the request known from the start.
        assertThat(TrainerCli.commandLine().execute("forget", "--bootstrap",
            kafka.bootstrapServers(), "--registry", registry.url(), "--subject", SUBJECT,
            "--id", "req-1", "--erasure-topic", freshRequests)).isZero();
        ChildProcess reference = start(work, config(work, "fresh", kafka, registry, model, fresh,
            freshRequests), "fresh");
        Checkpoint expected;
        Checkpoint otherExpected;
        try {
          expected = await(kafka, client, fresh, "default", c -> trained(c, allButTheirs),
              reference);
          otherExpected = await(kafka, client, fresh, "other", c -> trained(c, others),
              reference);
        } finally {
          reference.stop(Duration.ofSeconds(30));
        }
        assertThat(after.manifest().getExamplesTrained())
            .isEqualTo(expected.manifest().getExamplesTrained());
        assertThat(after.manifest().getStep()).isEqualTo(expected.manifest().getStep());
        assertThat(after.files().get(Checkpoint.ADAPTER_WEIGHTS)).as("the adapter, bit for bit")
            .isEqualTo(expected.files().get(Checkpoint.ADAPTER_WEIGHTS));
        assertThat(after.files().get(Checkpoint.OPTIMIZER)).as("the moments, bit for bit")
            .isEqualTo(expected.files().get(Checkpoint.OPTIMIZER));
        assertThat(otherAfter.files().get(Checkpoint.ADAPTER_WEIGHTS))
            .as("the other adapter, as a fresh run trains it")
            .isEqualTo(otherExpected.files().get(Checkpoint.ADAPTER_WEIGHTS));
      } finally {
        trainer.stop(Duration.ofSeconds(30));
      }
    }
  }

  private static Path config(Path work, String name, KafkaCluster kafka, SchemaRegistry registry,
      Path model, TrainerServiceIT.Topics topics, String requests) throws Exception {
    return TestConfigs.write(work.resolve(name + ".properties"), TrainerConfig.toProperties(
        TrainerFixtures.settings(kafka, registry.url(), model, topics.examples(), topics.dlq(),
            topics.checkpoints(), "*", "erasure-" + topics.examples())
            .set(TrainerConfig.REPLAY_FRACTION, 0.25)
            .set(TrainerConfig.ERASURE_TOPIC, requests)
            .set(TrainerConfig.ERASURE_BATCH_WINDOW, 0)
            .build()));
  }

  /** The lineage of {@code version}: its entries and its ancestors'. */
  private static List<LineageEntry> lineageOf(KafkaCluster kafka, SchemaRegistry registry,
      String topic, String adapter, long version) {
    return io.continualsft.trainer.erasure.Lineages.of(manifests(kafka, registry, topic,
        adapter), version).stream().map(io.continualsft.trainer.erasure.Lineages.Trained::entry)
        .toList();
  }

  private static SortedMap<Long, CheckpointManifest> manifests(KafkaCluster kafka,
      SchemaRegistry registry, String topic, String adapter) {
    try (CheckpointReader reader = CheckpointReader.open(kafka.bootstrapServers(),
        SchemaRegistryConfig.fromMap(Map.of(SchemaRegistryConfig.URL, registry.url())), topic,
        Map.of())) {
      return reader.manifests(adapter, Integer.MAX_VALUE);
    }
  }

  /** The first conversation from {@code index} on that trains "default" (not held out). */
  private static int trainedAt(int index) {
    while (index % 5 == 0 || io.continualsft.trainer.service.ExampleAdmission.heldOut(
        "erase-" + index, TrainerFixtures.EVAL_FRACTION)) {
      index++;
    }
    return index;
  }

  private static long rewindVersion(SortedMap<Long, CheckpointManifest> manifests) {
    return manifests.entrySet().stream().filter(e -> !e.getValue().getRevokes().isEmpty())
        .findFirst().orElseThrow().getKey();
  }

  /** What {@code command} prints on standard output. */
  private static String printed(java.util.function.IntSupplier command) {
    java.io.PrintStream was = System.out;
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    System.setOut(new java.io.PrintStream(out, true, java.nio.charset.StandardCharsets.UTF_8));
    try {
      assertThat(command.getAsInt()).isZero();
    } finally {
      System.setOut(was);
    }
    return out.toString(java.nio.charset.StandardCharsets.UTF_8);
  }

  /** Examples of {@code adapter} that train (not held out), the subject's left out or not. */
  private static long trainable(List<SftExample> examples, String adapter,
      boolean withoutSubject) {
    return examples.stream().filter(e -> e.getAdapter().equals(adapter)
        && !(withoutSubject && SUBJECT.equals(e.getSubject()))
        && !io.continualsft.trainer.service.ExampleAdmission.heldOut(e.getConversationId(),
            TrainerFixtures.EVAL_FRACTION)).count();
  }

  /** Whether {@code c} has trained (or skipped in a non-finite step) {@code examples}. */
  private static boolean trained(Checkpoint c, long examples) {
    return c.manifest().getExamplesTrained() + c.manifest().getMetrics()
        .getOrDefault("examples_in_skipped_steps", 0.0).longValue() == examples;
  }

  private static ChildProcess start(Path work, Path config, String run) {
    List<String> command = List.of(JavaRuntime.javaExecutable(),
        "--enable-native-access=ALL-UNNAMED", "-Xmx1g",
        "-Dai.djl.pytorch.num_threads=1", "-Dai.djl.offline=true",
        "-cp", JavaRuntime.expandedClassPath(),
        "io.continualsft.trainer.cli.TrainerCli", "run", "--config", config.toString());
    return ChildProcess.start("trainer-" + run, command, work, work.resolve("trainer-" + run
        + ".log"), Map.of("MKL_CBWR", "AUTO"));
  }

  private static Checkpoint await(KafkaCluster kafka, SchemaRegistryClient client,
      TrainerServiceIT.Topics topics, String adapter, Predicate<Checkpoint> done,
      ChildProcess child) throws Exception {
    Instant deadline = Instant.now().plusSeconds(240);
    while (Instant.now().isBefore(deadline)) {
      if (!child.isAlive()) {
        throw new AssertionError("the trainer exited: " + child.logTail(40));
      }
      Optional<Checkpoint> c = TrainerServiceIT.newest(kafka, client, topics.checkpoints(),
          adapter);
      if (c.isPresent() && done.test(c.get())) {
        return c.get();
      }
      Thread.sleep(300);
    }
    throw new AssertionError("no such checkpoint within 240 s; trainer log:\n"
        + child.logTail(60));
  }
}
