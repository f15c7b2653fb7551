package io.continualsft.it.trainer;

import static org.assertj.core.api.Assertions.assertThat;

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
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointReader;
import io.continualsft.trainer.cli.TrainerCli;
import io.continualsft.trainer.config.TrainerConfig;
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
 * Exact unlearning on the real broker and registry: one subject's three conversations early, in
 * the middle and late in an adapter's stream, replay at ρ = 0.25. A trainer trains the whole
 * stream; {@code trainer-service forget --subject} asks it to forget them; it revokes every
 * version they reached, goes back to the newest version without them and retrains forward. Its
 * final adapter and optimizer moments are then byte-identical to those of a fresh trainer run
 * over the same log that knew of the request from the start, and no version it kept names the
 * subject in its lineage.
 */
@RealServices
class ErasureIT {
  private static final int CONVERSATIONS = 160;
  private static final String SUBJECT = "subject-7f3a";

  /**
   * {@code early}: the first tainted version has no parent, so the adapter goes back to a fresh
   * one; without the early conversation it goes back to a version in the middle.
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
    List<SftExample> examples = new ArrayList<>();
    for (SftExample e : TrainerFixtures.examples(model,
        TrainerFixtures.conversations(CONVERSATIONS, "erase"), forgetting.examples())) {
      examples.add(e);
    }
    // The subject's conversations: early, in the middle, late (none held out: they train).
    List<Integer> theirs = early ? List.of(5, CONVERSATIONS / 2, CONVERSATIONS - 12)
        : List.of(CONVERSATIONS / 2, CONVERSATIONS - 12);
    for (int i : theirs) {
      examples.get(i).setSubject(SUBJECT);
    }
    for (int i = 0; i < examples.size(); i++) {
      if (!theirs.contains(i)) {
        examples.get(i).setSubject("subject-" + (i % 17));
      }
    }
    try (SchemaRegistryClient client = registry.client(true)) {
      TrainerFixtures.produce(kafka, client, forgetting.examples(), examples);
      TrainerFixtures.produce(kafka, client, fresh.examples(), examples);

      // The trainer that learns, then forgets.
      Path config = config(work, "forgetting", kafka, registry, model, forgetting,
          forgettingRequests);
      ChildProcess trainer = start(work, config, "forgetting");
      try {
        Checkpoint before = await(kafka, client, forgetting, c -> consumedAll(c, examples.size()),
            trainer);
        assertThat(lineageOf(kafka, registry, forgetting.checkpoints(), before.version()))
            .as("before: the subject reached the adapter").anyMatch(e -> SUBJECT.equals(
                String.valueOf(e.getSubject())));
        assertThat(TrainerCli.commandLine().execute("forget", "--bootstrap",
            kafka.bootstrapServers(), "--registry", registry.url(), "--subject", SUBJECT,
            "--reason", "GDPR Art. 17 request", "--id", "req-1", "--erasure-topic",
            forgettingRequests)).isZero();
        Checkpoint after = await(kafka, client, forgetting, c -> c.version() > before.version()
            + 1 && consumedAll(c, examples.size()) && c.manifest().getErasuresThrough() == 1,
            trainer);
        trainer.stop(Duration.ofSeconds(30));

        SortedMap<Long, CheckpointManifest> manifests = manifests(kafka, registry,
            forgetting.checkpoints());
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
        assertThat(lineageOf(kafka, registry, forgetting.checkpoints(), after.version()))
            .as("after: no kept version names the subject")
            .noneMatch(e -> SUBJECT.equals(String.valueOf(e.getSubject())));

        // The reference: a fresh trainer over the same log, the request known from the start.
        assertThat(TrainerCli.commandLine().execute("forget", "--bootstrap",
            kafka.bootstrapServers(), "--registry", registry.url(), "--subject", SUBJECT,
            "--id", "req-1", "--erasure-topic", freshRequests)).isZero();
        ChildProcess reference = start(work, config(work, "fresh", kafka, registry, model, fresh,
            freshRequests), "fresh");
        Checkpoint expected;
        try {
          expected = await(kafka, client, fresh, c -> consumedAll(c, examples.size()), reference);
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
      } finally {
        trainer.stop(Duration.ofSeconds(30));
      }
    }
  }

  private static Path config(Path work, String name, KafkaCluster kafka, SchemaRegistry registry,
      Path model, TrainerServiceIT.Topics topics, String requests) throws Exception {
    return TestConfigs.write(work.resolve(name + ".properties"), TrainerConfig.toProperties(
        TrainerFixtures.settings(kafka, registry.url(), model, topics.examples(), topics.dlq(),
            topics.checkpoints(), "default", "erasure-" + topics.examples())
            .set(TrainerConfig.REPLAY_FRACTION, 0.25)
            .set(TrainerConfig.ERASURE_TOPIC, requests)
            .set(TrainerConfig.ERASURE_BATCH_WINDOW, 0)
            .build()));
  }

  /** The lineage of {@code version}: its entries and its ancestors'. */
  private static List<LineageEntry> lineageOf(KafkaCluster kafka, SchemaRegistry registry,
      String topic, long version) {
    SortedMap<Long, CheckpointManifest> manifests = manifests(kafka, registry, topic);
    List<LineageEntry> out = new ArrayList<>();
    for (Long v = version; v != null && manifests.containsKey(v);
        v = manifests.get(v).getParentVersion()) {
      out.addAll(manifests.get(v).getLineage());
    }
    return out;
  }

  private static SortedMap<Long, CheckpointManifest> manifests(KafkaCluster kafka,
      SchemaRegistry registry, String topic) {
    try (CheckpointReader reader = CheckpointReader.open(kafka.bootstrapServers(),
        io.continualsft.schemas.registry.SchemaRegistryConfig.fromMap(
            Map.of("schema.registry.url", registry.url())), topic, Map.of())) {
      return reader.manifests("default", Integer.MAX_VALUE);
    }
  }

  private static boolean consumedAll(Checkpoint c, long records) {
    return c.manifest().getSourceOffsets().get(0).getOffset() >= records;
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
      TrainerServiceIT.Topics topics, Predicate<Checkpoint> done, ChildProcess child)
      throws Exception {
    Instant deadline = Instant.now().plusSeconds(240);
    while (Instant.now().isBefore(deadline)) {
      if (!child.isAlive()) {
        throw new AssertionError("the trainer exited: " + child.logTail(40));
      }
      Optional<Checkpoint> c = TrainerServiceIT.newest(kafka, client, topics.checkpoints(),
          "default");
      if (c.isPresent() && done.test(c.get())) {
        return c.get();
      }
      Thread.sleep(500);
    }
    throw new AssertionError("no such checkpoint within 240 s; trainer log:\n"
        + child.logTail(60));
  }
}
