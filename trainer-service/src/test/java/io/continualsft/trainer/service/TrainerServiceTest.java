package io.continualsft.trainer.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import io.continualsft.avro.AdapterRelease;
import io.continualsft.avro.CheckpointManifest;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.PartitionOffset;
import io.continualsft.avro.PastRelease;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.ReleaseDecision;
import io.continualsft.avro.SftExample;
import io.continualsft.chat.labels.LabelContract;
import io.continualsft.schemas.registry.InMemorySchemaRegistry;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointLocator;
import io.continualsft.trainer.checkpoint.CheckpointSource;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.ModelIdentity;
import io.continualsft.trainer.release.ReleaseGate;
import io.continualsft.trainer.release.ReleaseSource;
import io.continualsft.trainer.testing.LogConsumer;
import io.continualsft.trainer.train.AdapterTraining;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.Serializer;
import io.continualsft.trainer.release.Releases;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The poll and commit logic on Kafka's own mocks and a real (tiny) model: what is trained, what
 * is dead-lettered, which offsets commit with which checkpoint, and that a restarted service
 * continues exactly where the checkpoint says.
 */
@Timeout(300) // a safety net for a loop that never meets its stop condition, not a measurement
class TrainerServiceTest {
  static final Path MODEL = Path.of("src/test/resources/parity/qwen3/model");
  static final String EXAMPLES = "examples";
  static final String CHECKPOINTS = "checkpoints";
  static final String DLQ = "examples-dlq";
  static final String RELEASES = "releases";
  static final TopicPartition IN = new TopicPartition(EXAMPLES, 0);
  static final ModelIdentity IDENTITY = new ModelIdentity("tiny", "b".repeat(64), "t".repeat(64));
  static final Clock CLOCK = Clock.fixed(Instant.ofEpochMilli(1_795_000_000_000L), ZoneOffset.UTC);

  private final InMemorySchemaRegistry registry = new InMemorySchemaRegistry();
  private final Serializer<SftExample> serializer = new AvroSerializer<>(registry, false);

  static TrainerSettings settings() {
    // FP32: the service's logic is tested on numbers that are the same on every CPU.
    return TrainerSettings.builder().set(TrainerConfig.PRECISION, "fp32")
        .set(TrainerConfig.BOOTSTRAP_SERVERS, "unused:9092").set(TrainerConfig.REGISTRY_URL, "http://unused")
        .set(TrainerConfig.TOPIC_EXAMPLES, EXAMPLES).set(TrainerConfig.TOPIC_CHECKPOINTS, CHECKPOINTS).set(TrainerConfig.TOPIC_DEAD_LETTERS, DLQ)
        .set(TrainerConfig.TOPIC_RELEASES, RELEASES)
        .set(TrainerConfig.MODEL_DIR, MODEL)
        .set(TrainerConfig.LORA_R, 4).set(TrainerConfig.LORA_ALPHA, 8).set(TrainerConfig.LORA_DROPOUT, 0.1).set(TrainerConfig.LORA_TARGET_MODULES, List.of("all-linear"))
        .set(TrainerConfig.SEED, 3)
        .set(TrainerConfig.MAX_LENGTH, 32).set(TrainerConfig.TOKEN_BUDGET, 64)
        .set(TrainerConfig.STEP_TOKENS, 10)
        .set(TrainerConfig.LEARNING_RATE, 0.01).set(TrainerConfig.WARMUP_STEPS, 0)
        .set(TrainerConfig.EVAL_FRACTION, 0.25)
        .set(TrainerConfig.CHECKPOINT_EVERY_STEPS, 3).set(TrainerConfig.CHECKPOINT_EVERY_SECONDS, 3600)
        .set(TrainerConfig.CHUNK_BYTES, 4096)
        .set(TrainerConfig.METRICS_PORT, 0)
        .set(TrainerConfig.PROGRESS_EVERY_STEPS, 1000)
        .build();
  }

  static SftExample example(String id, int seed) {
    List<Integer> ids = new ArrayList<>();
    List<Integer> labels = new ArrayList<>();
    int length = 8 + seed % 5;
    for (int i = 0; i < length; i++) {
      int token = (i * 31 + seed * 17) % 96;
      ids.add(token);
      labels.add(i >= length - 4 ? token : LabelContract.IGNORE_INDEX);
    }
    return SftExample.newBuilder().setConversationId(id).setAdapter("default")
        .setInputIds(ids).setLabels(labels).setTrainedTokens(4)
        .setTokenizerFingerprint(IDENTITY.tokenizerFingerprint()).setTemplateFingerprint("x")
        .setSourceTopic("conversations").setSourcePartition(0).setSourceOffset(seed)
        .setCreatedAt(Instant.ofEpochMilli(1_795_000_000_000L)).build();
  }

  /** A service over these mocks; {@code checkpoints} is what it finds at start. */
  private TrainerService service(LogConsumer<byte[], byte[]> consumer,
      MockProducer<String, Object> producer, CheckpointSource checkpoints) {
    TrainerSettings s = settings();
    AdapterTraining training = AdapterTraining.open(s, NDManager.newBaseManager());
    return new TrainerService(s, new TrainerService.Clients(consumer, producer,
        AvroDeserializer.specific(SftExample.class, registry), checkpoints), training, IDENTITY,
        new TrainerMetrics(new SimpleMeterRegistry()), CLOCK);
  }

  static LogConsumer<byte[], byte[]> consumer() {
    LogConsumer<byte[], byte[]> consumer = new LogConsumer<byte[], byte[]>(7)
        .inGroup("sft-trainer-default");
    consumer.createTopic(EXAMPLES, 1);
    return consumer;
  }

  static MockProducer<String, Object> producer() {
    return new MockProducer<>(clusterOf(), true, null, (t, k) -> k == null ? null
        : k.getBytes(StandardCharsets.UTF_8), (t, v) -> new byte[0]);
  }

  /** The cluster the mock producers see: the checkpoint topic of 2 partitions, the others. */
  static Cluster clusterOf() {
    Node node = new Node(0, "localhost", 9092);
    return new Cluster("c", List.of(node),
        List.of(new PartitionInfo(CHECKPOINTS, 0, node, null, null),
            new PartitionInfo(CHECKPOINTS, 1, node, null, null),
            new PartitionInfo(DLQ, 0, node, null, null),
            new PartitionInfo(RELEASES, 0, node, null, null)),
        java.util.Set.of(), java.util.Set.of());
  }

  private void append(LogConsumer<byte[], byte[]> consumer, SftExample e) {
    consumer.append(IN, e.getConversationId().getBytes(StandardCharsets.UTF_8),
        serializer.serialize(EXAMPLES, e), 0);
  }

  /** Runs until a checkpoint has been published through the end of the input. */
  private static List<Published> runToEnd(TrainerService service,
      LogConsumer<byte[], byte[]> consumer) {
    List<Published> published = new CopyOnWriteArrayList<>();
    service.onPublished(published::add);
    long end = consumer.endOffsets(List.of(IN)).get(IN);
    BooleanSupplier done = () -> !published.isEmpty()
        && published.getLast().offsets().getOrDefault(IN, -1L) == end;
    service.run(done);
    return published;
  }

  static List<CheckpointRecord> checkpointRecords(MockProducer<String, Object> producer) {
    return producer.history().stream().filter(r -> r.topic().equals(CHECKPOINTS))
        .map(r -> (CheckpointRecord) r.value()).toList();
  }

  static CheckpointManifest lastManifest(MockProducer<String, Object> producer) {
    List<CheckpointRecord> records = checkpointRecords(producer);
    return (CheckpointManifest) records.getLast().getPayload();
  }

  @Test
  void everyExampleIsTrainedOrHeldOutAndTheOffsetsCommitWithTheCheckpoint() {
    LogConsumer<byte[], byte[]> consumer = consumer();
    int n = 20;
    long heldOut = 0;
    for (int i = 0; i < n; i++) {
      append(consumer, example("c-" + i, i));
      heldOut += ExampleAdmission.heldOut("c-" + i, 0.25) ? 1 : 0;
    }
    MockProducer<String, Object> producer = producer();
    List<Published> published;
    try (TrainerService service = service(consumer, producer, (adapter, versions) -> Optional.empty())) {
      published = runToEnd(service, consumer);
      assertThat(service.state()).isEqualTo("STOPPED");
    }
    assertThat(heldOut).as("the fixture holds some out").isBetween(1L, 10L);
    Published last = published.getLast();
    assertThat(last.examplesTrained()).isEqualTo(n - heldOut);
    assertThat(last.tokensTrained()).isEqualTo(4 * (n - heldOut));
    assertThat(last.offsets()).isEqualTo(Map.of(IN, (long) n));
    assertThat(last.evalLoss()).isFinite();
    // One committed transaction per checkpoint, each with the offsets it trained through.
    assertThat(producer.commitCount()).isEqualTo(published.size());
    assertThat(producer.consumerGroupOffsetsHistory()).hasSize(published.size());
    for (int i = 0; i < published.size(); i++) {
      Map<TopicPartition, OffsetAndMetadata> committed =
          producer.consumerGroupOffsetsHistory().get(i).get("sft-trainer-default");
      assertThat(committed).containsOnlyKeys(IN);
      assertThat(committed.get(IN).offset()).isEqualTo(published.get(i).offsets().get(IN));
    }
    // The checkpoint records go to the adapter's partition, keyed by it, the manifest last.
    int partition = CheckpointLocator.partitionFor("default", 2);
    assertThat(producer.history()).filteredOn(r -> r.topic().equals(CHECKPOINTS))
        .allMatch(r -> r.partition() == partition && r.key().equals("default"));
    CheckpointManifest m = lastManifest(producer);
    assertThat(m.getSourceOffsets()).containsExactly(new PartitionOffset(EXAMPLES, 0, (long) n));
    assertThat(m.getExamplesTrained()).isEqualTo(n - heldOut);
    assertThat(m.getMetrics()).containsEntry("eval_examples", (double) heldOut);
    assertThat(producer.history()).noneMatch(r -> r.topic().equals(DLQ));
  }

  @Test
  void badRecordsBecomeDeadLettersInTheTransactionOfTheOffsetPastThem() {
    LogConsumer<byte[], byte[]> consumer = consumer();
    append(consumer, example("c-0", 0));
    consumer.append(IN, "junk".getBytes(StandardCharsets.UTF_8), new byte[] {9, 9, 9}, 0); // 1
    consumer.append(IN, "gone".getBytes(StandardCharsets.UTF_8), null, 0); // 2: a tombstone,
    // an erasure's: skipped, no dead letter
    append(consumer, SftExample.newBuilder(example("c-3", 3))
        .setTokenizerFingerprint("0".repeat(64)).build()); // 3
    append(consumer, SftExample.newBuilder(example("c-4", 4)).setTrainedTokens(5).build()); // 4
    append(consumer, SftExample.newBuilder(example("c-5", 5)).setAdapter("other").build()); // 5
    List<Integer> outOfRange = new ArrayList<>(example("c-6", 6).getInputIds());
    outOfRange.set(0, 96);
    append(consumer, SftExample.newBuilder(example("c-6", 6)).setInputIds(outOfRange).build());
    append(consumer, example("c-7", 7));
    MockProducer<String, Object> producer = producer();
    List<Published> published;
    try (TrainerService service = service(consumer, producer, (adapter, versions) -> Optional.empty())) {
      published = runToEnd(service, consumer);
    }
    List<ProducerRecord<String, Object>> dead = producer.history().stream()
        .filter(r -> r.topic().equals(DLQ)).toList();
    assertThat(dead).extracting(r -> ((Rejection) r.value()).getSourceOffset() + " "
            + ((Rejection) r.value()).getReason())
        .containsExactly("1 NOT_WIRE_FORMAT", "3 TOKENIZER_MISMATCH",
            "4 NO_TRAINED_TOKENS", "6 TOKEN_ID_OUT_OF_RANGE");
    Rejection junk = (Rejection) dead.getFirst().value();
    assertThat(junk.getOriginalValue().array()).containsExactly(9, 9, 9);
    assertThat(junk.getRejectedBy()).isEqualTo("sft-trainer-default");
    assertThat(dead.getFirst().key()).isEqualTo("junk");
    assertThat(published.getLast().offsets()).containsEntry(IN, 8L);
    long trainable = java.util.stream.Stream.of("c-0", "c-7")
        .filter(id -> !ExampleAdmission.heldOut(id, 0.25)).count();
    assertThat(published.getLast().examplesTrained()).isEqualTo(trainable);
    // Dead letters are sent before the checkpoint records, in the same transaction.
    List<String> topics = producer.history().stream().map(ProducerRecord::topic).toList();
    assertThat(topics.indexOf(DLQ)).isLessThan(topics.indexOf(CHECKPOINTS));
    assertThat(producer.commitCount()).isEqualTo(published.size());
  }

  @Test
  void aBurstOfBadRecordsIsFlushedByAnEarlierTransactionNotHeldWithoutBound() {
    LogConsumer<byte[], byte[]> consumer = consumer();
    append(consumer, example("c-0", 0));
    int bad = PendingDeadLetters.MAX_PENDING + 5;
    for (int i = 0; i < bad; i++) {
      consumer.append(IN, ("junk-" + i).getBytes(StandardCharsets.UTF_8), new byte[] {9}, 0);
    }
    // A record over the copy cap: referenced by offset, not copied into the dead letter.
    consumer.append(IN, "big".getBytes(StandardCharsets.UTF_8),
        new byte[PendingDeadLetters.MAX_ORIGINAL_BYTES + 1], 0);
    MockProducer<String, Object> producer = producer();
    List<Published> published;
    try (TrainerService service = service(consumer, producer, (adapter, versions) -> Optional.empty())) {
      published = runToEnd(service, consumer);
    }
    List<Rejection> dead = producer.history().stream().filter(r -> r.topic().equals(DLQ))
        .map(r -> (Rejection) r.value()).toList();
    assertThat(dead).hasSize(bad + 1);
    // The 1,000th dead letter brought a transaction forward, of the dead letters and offsets
    // alone: the group's offset stays before c-0, whose step is still being formed, and its
    // metadata says how far dead letters were sent, so a trainer resuming there sends none twice.
    assertThat(producer.consumerGroupOffsetsHistory().getFirst().get("sft-trainer-default"))
        .containsExactly(Map.entry(IN, new OffsetAndMetadata(0,
            TrainerService.DEAD_LETTERS_THROUGH + (1 + PendingDeadLetters.MAX_PENDING))));
    assertThat(published).hasSize(1);
    assertThat(published.getLast().offsets()).containsEntry(IN, 2L + bad);
    Rejection big = dead.getLast();
    assertThat(big.getOriginalValue()).isNull();
    assertThat(big.getDetail()).contains("not copied here").contains("at offset " + (1 + bad));
    assertThat(producer.commitCount()).isEqualTo(2);
  }

  @Test
  void aRestartedServiceContinuesFromItsCheckpointToTheAdapterOfAnUninterruptedRun() {
    int n = 30;
    java.util.function.Supplier<LogConsumer<byte[], byte[]>> input = () -> {
      LogConsumer<byte[], byte[]> consumer = consumer();
      for (int i = 0; i < n; i++) {
        append(consumer, example("c-" + i, i));
      }
      return consumer;
    };
    // The reference: one service over all of it.
    MockProducer<String, Object> reference = producer();
    LogConsumer<byte[], byte[]> all = input.get();
    try (TrainerService service = service(all, reference, (adapter, versions) -> Optional.empty())) {
      runToEnd(service, all);
    }
    // A service stopped after its first checkpoint (a clean stop publishes the last boundary,
    // always between two steps)...
    MockProducer<String, Object> stopped = producer();
    try (TrainerService service = service(input.get(), stopped, (adapter, versions) -> Optional.empty())) {
      List<Published> published = new CopyOnWriteArrayList<>();
      service.onPublished(published::add);
      service.run(() -> !published.isEmpty());
      assertThat(published.getFirst().offsets().get(IN)).isLessThan(n);
    }
    // ... and another that finds its checkpoint and reads on from its offsets.
    MockProducer<String, Object> resumed = producer();
    CheckpointSource fromStopped = (adapter, versions) -> newest(checkpointRecords(stopped),
        adapter);
    LogConsumer<byte[], byte[]> again = input.get();
    try (TrainerService service = service(again, resumed, fromStopped)) {
      runToEnd(service, again);
    }
    long stoppedAt = newest(checkpointRecords(stopped), "default").orElseThrow().version();
    assertThat(checkpointRecords(resumed).getFirst().getVersion())
        .as("the versions go on from the checkpoint it resumed from").isEqualTo(stoppedAt + 1);
    Checkpoint end = newest(checkpointRecords(resumed), "default").orElseThrow();
    Checkpoint uninterrupted = newest(checkpointRecords(reference), "default").orElseThrow();
    assertThat(end.manifest().getSourceOffsets())
        .isEqualTo(uninterrupted.manifest().getSourceOffsets());
    assertThat(end.manifest().getStep()).isEqualTo(uninterrupted.manifest().getStep());
    assertThat(end.manifest().getExamplesTrained())
        .isEqualTo(uninterrupted.manifest().getExamplesTrained());
    assertThat(end.manifest().getMetrics()).isEqualTo(uninterrupted.manifest().getMetrics());
    for (String file : List.of(Checkpoint.ADAPTER_WEIGHTS, Checkpoint.OPTIMIZER)) {
      assertThat(end.files().get(file)).as(file + ", bit for bit")
          .isEqualTo(uninterrupted.files().get(file));
    }
  }

  @Test
  void aFencedProducerStopsTheServiceAsFailedAndNothingIsPublished() {
    LogConsumer<byte[], byte[]> consumer = consumer();
    for (int i = 0; i < 5; i++) {
      append(consumer, example("c-" + i, i));
    }
    MockProducer<String, Object> producer = producer();
    producer.commitTransactionException = new ProducerFencedException("another trainer took over");
    try (TrainerService service = service(consumer, producer, (adapter, versions) -> Optional.empty())) {
      assertThatThrownBy(() -> service.run(() -> false))
          .isInstanceOf(ProducerFencedException.class);
      assertThat(service.state()).isEqualTo("FAILED");
    }
    assertThat(producer.history()).isEmpty();
    assertThat(producer.commitCount()).isZero();
  }

  /** A service over these mocks with releases read back from {@code producer}, and replay. */
  private TrainerService service(TrainerSettings s, LogConsumer<byte[], byte[]> consumer,
      MockProducer<String, Object> producer, CheckpointSource checkpoints,
      LogConsumer<byte[], byte[]> replayLog, List<Batch.Example> retention) {
    AdapterTraining training = AdapterTraining.open(s, NDManager.newBaseManager());
    return new TrainerService(s, new TrainerService.Clients(consumer, producer,
        AvroDeserializer.specific(SftExample.class, registry), checkpoints, releasesOf(producer),
        replayLog == null ? null : new ExampleLog(replayLog, java.time.Duration.ofSeconds(5))),
        training, IDENTITY, new TrainerMetrics(new SimpleMeterRegistry()), CLOCK, retention);
  }

  /** Six examples of the stream's own task that it never carries. */
  static List<Batch.Example> retentionSet() {
    List<Batch.Example> retention = new ArrayList<>();
    for (int i = 100; i < 106; i++) {
      SftExample e = example("r-" + i, i);
      retention.add(Batch.Example.of(e.getInputIds(), e.getLabels()));
    }
    return retention;
  }

  /** The newest release in what {@code producer} sent, as the releases topic would hold it. */
  static ReleaseSource releasesOf(MockProducer<String, Object> producer) {
    return adapter -> producer.history().stream()
        .filter(r -> r.topic().equals(RELEASES) && r.key().equals(adapter))
        .map(r -> (AdapterRelease) r.value())
        .reduce((first, second) -> second);
  }

  static List<AdapterRelease> releases(MockProducer<String, Object> producer) {
    return producer.history().stream().filter(r -> r.topic().equals(RELEASES))
        .map(r -> (AdapterRelease) r.value()).toList();
  }

  @Test
  void everyCandidateIsReleasedInTheTransactionOfItsCheckpointWithItsHistory() {
    LogConsumer<byte[], byte[]> consumer = consumer();
    for (int i = 0; i < 20; i++) {
      append(consumer, example("c-" + i, i));
    }
    MockProducer<String, Object> producer = producer();
    TrainerSettings s = settings().toBuilder()
        .set(TrainerConfig.RELEASE_POLICY, TrainerSettings.ReleasePolicy.EVERY_CANDIDATE).build();
    List<Published> published;
    try (TrainerService service = service(s, consumer, producer,
        (adapter, versions) -> Optional.empty(), null, List.of())) {
      published = runToEnd(service, consumer);
    }
    assertThat(published).hasSizeGreaterThanOrEqualTo(2).allMatch(Published::released);
    List<ProducerRecord<String, Object>> history = producer.history();
    List<AdapterRelease> releases = releases(producer);
    assertThat(releases).extracting(AdapterRelease::getVersion)
        .containsExactlyElementsOf(published.stream().map(Published::version).toList());
    for (int i = 0; i < history.size(); i++) {
      if (history.get(i).topic().equals(RELEASES)) {
        // Sent right after the manifest it points at, before the transaction commits.
        CheckpointRecord manifest = (CheckpointRecord) history.get(i - 1).value();
        assertThat(manifest.getPayload()).isInstanceOf(CheckpointManifest.class);
        assertThat(manifest.getVersion()).isEqualTo(((AdapterRelease) history.get(i).value())
            .getVersion());
        assertThat(history.get(i).key()).isEqualTo("default");
      }
    }
    assertThat(producer.commitCount()).isEqualTo(published.size());
    AdapterRelease last = releases.getLast();
    assertThat(last.getDecision()).isEqualTo(ReleaseDecision.UNGATED);
    assertThat(last.getReplaces()).isEqualTo(last.getVersion() - 1);
    assertThat(last.getHistory()).extracting(PastRelease::getVersion)
        .containsExactlyElementsOf(releases.reversed().stream().skip(1)
            .map(AdapterRelease::getVersion).toList());
    assertThat(releases.getFirst().getReplaces()).isNull();
  }

  @Test
  void aCandidateThatRegressesOnRetentionIsRefusedAndTheReleaseStaysUntilOnePasses() {
    LogConsumer<byte[], byte[]> consumer = consumer();
    for (int i = 0; i < 30; i++) {
      append(consumer, example("c-" + i, i));
    }
    List<Batch.Example> retention = retentionSet();
    MockProducer<String, Object> producer = producer();
    // A learning rate a hundred times too high: some updates wreck the adapter.
    TrainerSettings s = settings().toBuilder().set(TrainerConfig.EVAL_FRACTION, 0).set(TrainerConfig.GATE_MAX_RETENTION_INCREASE, 0.05)
        .set(TrainerConfig.LEARNING_RATE, 1.0).build();
    List<Published> published;
    TrainerMetrics metrics;
    try (TrainerService service = service(s, consumer, producer,
        (adapter, versions) -> Optional.empty(), null, retention)) {
      published = runToEnd(service, consumer);
      metrics = service.metrics();
    }
    // Measured on this fixture: v1 retention 10.68 (base 13.76), v2 12.26 (> v1's + 5 %),
    // v3 8.67; the margins are wide enough for another CPU's rounding.
    assertThat(published).hasSizeGreaterThanOrEqualTo(3);
    assertThat(published.get(0).released()).isTrue();
    assertThat(published.get(0).gate()).contains("(base model ");
    assertThat(published.get(1).released()).isFalse();
    assertThat(published.get(1).reason()).isEqualTo(ReleaseGate.Reason.RETENTION_REGRESSED);
    assertThat(published.get(1).gate()).startsWith("retention loss ").contains("(release v1 ");
    assertThat(published.get(2).released()).isTrue();
    assertThat(published.get(2).gate()).as("the release stayed at v1").contains("(release v1 ");
    List<AdapterRelease> releases = releases(producer);
    assertThat(releases.get(0).getVersion()).isEqualTo(1);
    assertThat(releases.get(1).getVersion()).isEqualTo(3);
    assertThat(releases.get(1).getReplaces()).isEqualTo(1L);
    assertThat(releases.get(1).getDecision()).isEqualTo(ReleaseDecision.GATE_PASSED);
    assertThat(releases.get(1).getMetrics()).containsOnlyKeys("retention_loss",
        "baseline_retention_loss");
    long refused = published.stream().filter(p -> !p.released()).count();
    assertThat(metrics.gateDecisions(false)).isEqualTo(refused);
    assertThat(metrics.gateDecisions(true)).isEqualTo(published.size() - refused);
    assertThat(releases).hasSize((int) (published.size() - refused));
    // Refused candidates stay on the checkpoint topic for inspection, with their retention loss.
    assertThat(lastManifest(producer).getMetrics()).containsKey("retention_loss");
  }

  @Test
  void candidatesThatKeepTheRetentionSetAreReleasedOneAfterAnother() {
    LogConsumer<byte[], byte[]> consumer = consumer();
    for (int i = 0; i < 30; i++) {
      append(consumer, example("c-" + i, i));
    }
    List<Batch.Example> retention = retentionSet();
    MockProducer<String, Object> producer = producer();
    TrainerSettings s = settings().toBuilder().set(TrainerConfig.EVAL_FRACTION, 0).build();
    List<Published> published;
    try (TrainerService service = service(s, consumer, producer,
        (adapter, versions) -> Optional.empty(), null, retention)) {
      published = runToEnd(service, consumer);
    }
    assertThat(published.getFirst().released()).isTrue();
    assertThat(published.getFirst().gate()).contains("base model");
    List<AdapterRelease> releases = releases(producer);
    assertThat(releases).extracting(AdapterRelease::getVersion).containsExactlyElementsOf(
        published.stream().filter(Published::released)
            .map(Published::version).toList());
    for (AdapterRelease r : releases) {
      assertThat(r.getDecision()).isEqualTo(ReleaseDecision.GATE_PASSED);
      assertThat(r.getMetrics().get("retention_loss"))
          .isLessThanOrEqualTo(r.getMetrics().get("baseline_retention_loss") * 1.05);
    }
  }

  /**
   * A rollback that holds: after the trainer's second candidate, an operator releases v1 again
   * with a hold (as `release --to 1 --hold` writes it); the trainer keeps training and cutting
   * candidates, each better than v1 by the gate's measure, and releases none of them; after the
   * fourth, the operator resumes, and the gate releases the next candidate against v1.
   */
  @Test
  void aHeldRollbackStaysUntilResumedWhileBetterCandidatesAreCut() {
    LogConsumer<byte[], byte[]> consumer = consumer();
    for (int i = 0; i < 60; i++) {
      append(consumer, example("c-" + i, i));
    }
    MockProducer<String, Object> producer = producer();
    TrainerSettings s = settings().toBuilder().set(TrainerConfig.EVAL_FRACTION, 0).build();
    // The releases topic as the trainer reads it: its own releases and the operator's, in order.
    List<AdapterRelease> topic = new CopyOnWriteArrayList<>();
    int[] seen = {0};
    ReleaseSource releases = adapter -> {
      List<AdapterRelease> own = releases(producer);
      for (; seen[0] < own.size(); seen[0]++) {
        topic.add(own.get(seen[0]));
      }
      return topic.isEmpty() ? Optional.empty() : Optional.of(topic.getLast());
    };
    Instant heldAt = Instant.parse("2026-12-06T09:00:00Z");
    List<Published> published = new CopyOnWriteArrayList<>();
    TrainerMetrics metrics = new TrainerMetrics(new SimpleMeterRegistry());
    AdapterTraining training = AdapterTraining.open(s, NDManager.newBaseManager());
    try (TrainerService service = new TrainerService(s, new TrainerService.Clients(consumer,
        producer, AvroDeserializer.specific(SftExample.class, registry),
        checkpointsOf(List.of(producer)), releases, null), training, IDENTITY, metrics,
        CLOCK, retentionSet())) {
      service.onPublished(p -> {
        published.add(p);
        AdapterRelease current = releases.current("default").orElseThrow();
        if (published.size() == 2) {
          topic.add(Releases.hold(Releases.next(Optional.of(current), "default", 1,
              ReleaseDecision.MANUAL, "v2 is worse in production", Map.of(), heldAt),
              "until the data is checked", heldAt));
        } else if (published.size() == 4) {
          topic.add(Releases.resume(current));
        }
      });
      long end = consumer.endOffsets(List.of(IN)).get(IN);
      service.run(() -> published.size() >= 5
          && published.getLast().offsets().getOrDefault(IN, -1L) == end);
    }
    assertThat(published).hasSizeGreaterThanOrEqualTo(5);
    assertThat(published.get(0).released()).isTrue();
    assertThat(published.get(1).released()).isTrue();
    for (Published held : published.subList(2, 4)) {
      assertThat(held.released()).as("v" + held.version()).isFalse();
      assertThat(held.reason()).isEqualTo(ReleaseGate.Reason.HELD);
      assertThat(held.gate()).isEqualTo("release held at v1 since 2026-12-06T09:00:00Z: until"
          + " the data is checked (trainer-service release --resume lifts it)");
    }
    assertThat(published.get(4).released()).as("the gate decides again").isTrue();
    assertThat(published.get(4).gate()).contains("(release v1 ");
    assertThat(releases(producer)).extracting(AdapterRelease::getVersion)
        .startsWith(1L, 2L, published.get(4).version());
    assertThat(releases(producer).get(2).getReplaces()).isEqualTo(1L);
    assertThat(releases(producer).get(2).getHold()).isNull();
    assertThat(metrics.gateDecisions("held")).isEqualTo(2.0);
    assertThat(metrics.gateDecisions(false)).as("a hold is not a refusal").isZero();
  }

  @Test
  void withReplayARestartedServiceEndsBitIdenticalAndCountsReplayedExamplesApart() {
    int n = 40;
    java.util.function.Supplier<LogConsumer<byte[], byte[]>> input = () -> {
      LogConsumer<byte[], byte[]> consumer = consumer();
      for (int i = 0; i < n; i++) {
        append(consumer, example("c-" + i, i));
      }
      return consumer;
    };
    TrainerSettings s = settings().toBuilder().set(TrainerConfig.REPLAY_FRACTION, 0.25).build();
    MockProducer<String, Object> reference = producer();
    LogConsumer<byte[], byte[]> all = input.get();
    List<Published> uninterrupted;
    try (TrainerService service = service(s, all, reference,
        (adapter, versions) -> Optional.empty(), input.get(), List.of())) {
      uninterrupted = runToEnd(service, all);
    }
    MockProducer<String, Object> stopped = producer();
    try (TrainerService service = service(s, input.get(), stopped,
        (adapter, versions) -> Optional.empty(), input.get(), List.of())) {
      List<Published> published = new CopyOnWriteArrayList<>();
      service.onPublished(published::add);
      service.run(() -> !published.isEmpty());
    }
    MockProducer<String, Object> resumed = producer();
    LogConsumer<byte[], byte[]> again = input.get();
    try (TrainerService service = service(s, again, resumed,
        (adapter, versions) -> newest(checkpointRecords(stopped), adapter), input.get(),
        List.of())) {
      runToEnd(service, again);
    }
    Checkpoint end = newest(checkpointRecords(resumed), "default").orElseThrow();
    Checkpoint reference1 = newest(checkpointRecords(reference), "default").orElseThrow();
    long heldOut = java.util.stream.IntStream.range(0, n)
        .filter(i -> ExampleAdmission.heldOut("c-" + i, 0.25)).count();
    Published last = uninterrupted.getLast();
    assertThat(last.examplesTrained()).as("each new example once").isEqualTo(n - heldOut);
    assertThat(last.tokensTrained()).isEqualTo(4 * (n - heldOut));
    assertThat(last.examplesReplayed()).as("about a third as many again")
        .isBetween((n - heldOut) / 6, (n - heldOut) / 2);
    assertThat(reference1.manifest().getMetrics())
        .containsEntry("examples_replayed", (double) last.examplesReplayed())
        .containsEntry("tokens_replayed", 4.0 * last.examplesReplayed());
    assertThat(end.manifest().getMetrics()).isEqualTo(reference1.manifest().getMetrics());
    for (String file : List.of(Checkpoint.ADAPTER_WEIGHTS, Checkpoint.OPTIMIZER,
        Checkpoint.TRAINER_STATE)) {
      assertThat(end.files().get(file)).as(file + ", bit for bit")
          .isEqualTo(reference1.files().get(file));
    }
  }

  @Test
  void trainingTheSameExamplesFromAFileGivesTheAdapterTheServicePublishesBitForBit() {
    int n = 30;
    List<SftExample> examples = new ArrayList<>();
    LogConsumer<byte[], byte[]> consumer = consumer();
    for (int i = 0; i < n; i++) {
      examples.add(example("c-" + i, i));
      append(consumer, examples.getLast());
    }
    MockProducer<String, Object> producer = producer();
    List<Published> published;
    try (TrainerService service = service(consumer, producer,
        (adapter, versions) -> Optional.empty())) {
      published = runToEnd(service, consumer);
    }
    Checkpoint fromTopic = newest(checkpointRecords(producer), "default").orElseThrow();
    List<Long> steps = new ArrayList<>();
    FileTraining.Result fromFile;
    try (AdapterTraining training = AdapterTraining.open(settings(), NDManager.newBaseManager())) {
      fromFile = FileTraining.train(settings(), training, IDENTITY, examples, List.of(), 1,
          new FileTraining.Progress() {
            @Override
            public void stepped(io.continualsft.trainer.train.LoraTrainer.StepResult result,
                long examplesTrained, long tokensTrained) {
              steps.add(result.step());
            }

            @Override
            public void epoch(int epoch, double evalLoss, int evalExamples) {}
          });
    }
    assertThat(fromFile.steps()).isEqualTo(fromTopic.manifest().getStep());
    assertThat(steps).hasSize((int) fromFile.steps());
    assertThat(fromFile.examplesTrained()).isEqualTo(published.getLast().examplesTrained());
    assertThat(fromFile.tokensTrained()).isEqualTo(published.getLast().tokensTrained());
    assertThat(fromFile.evalLoss()).isEqualTo(published.getLast().evalLoss());
    assertThat(fromFile.refused()).isEmpty();
    assertThat(fromFile.adapter().weightsBytes()).as("adapter_model.safetensors, bit for bit")
        .isEqualTo(fromTopic.files().get(Checkpoint.ADAPTER_WEIGHTS));
    assertThat(fromFile.adapter().configBytes())
        .isEqualTo(fromTopic.files().get("adapter_config.json"));
  }

  // --- many adapters ---------------------------------------------------------------------------

  static final List<String> TENANTS = List.of("acme", "globex", "initech", "umbrella", "hooli",
      "wayne");

  /** 60 examples of 6 adapters, interleaved, each in its adapter's partition of 2. */
  private LogConsumer<byte[], byte[]> tenants(String group) {
    LogConsumer<byte[], byte[]> consumer = new LogConsumer<byte[], byte[]>(7).inGroup(group);
    consumer.createTopic(EXAMPLES, 2);
    for (int i = 0; i < 60; i++) {
      String adapter = TENANTS.get((i * 7 + i / 6) % TENANTS.size());
      SftExample e = SftExample.newBuilder(example(adapter + "-" + i, i)).setAdapter(adapter)
          .build();
      consumer.append(new TopicPartition(EXAMPLES,
              io.continualsft.schemas.AdapterPartitions.partitionFor(adapter, 2)),
          e.getConversationId().getBytes(StandardCharsets.UTF_8),
          serializer.serialize(EXAMPLES, e), 0);
    }
    return consumer;
  }

  private TrainerService everyAdapter(LogConsumer<byte[], byte[]> consumer,
      MockProducer<String, Object> producer, CheckpointSource checkpoints, int resident) {
    return everyAdapter(consumer, producer, checkpoints, resident, 1000);
  }

  private TrainerService everyAdapter(LogConsumer<byte[], byte[]> consumer,
      MockProducer<String, Object> producer, CheckpointSource checkpoints, int resident,
      int maxKnown) {
    TrainerSettings s = settings().toBuilder().set(TrainerConfig.ADAPTER, "*").set(TrainerConfig.GROUP_ID, "trainers")
        .set(TrainerConfig.MAX_KNOWN_ADAPTERS, maxKnown)
        .set(TrainerConfig.TRANSACTIONAL_ID, "trainer-1").set(TrainerConfig.MAX_RESIDENT_ADAPTERS, resident)
        .loraOverride("hooli", new io.continualsft.trainer.lora.LoraSettings(2, 4, 0.1,
            List.of("q_proj", "v_proj"), false))
        .build();
    AdapterTraining training = AdapterTraining.open(s, NDManager.newBaseManager());
    return new TrainerService(s, new TrainerService.Clients(consumer, producer,
        AvroDeserializer.specific(SftExample.class, registry), checkpoints), training, IDENTITY,
        new TrainerMetrics(new SimpleMeterRegistry()), CLOCK);
  }

  /** The checkpoints {@code producers} wrote, as a trainer finds them on the topic. */
  static CheckpointSource checkpointsOf(List<MockProducer<String, Object>> producers) {
    return (adapter, versions) -> {
      List<CheckpointRecord> records = new ArrayList<>();
      producers.forEach(p -> records.addAll(checkpointRecords(p)));
      LogConsumer<String, CheckpointRecord> log = new LogConsumer<>(100);
      log.createTopic(CHECKPOINTS, 2);
      TopicPartition tp = new TopicPartition(CHECKPOINTS,
          CheckpointLocator.partitionFor(adapter, 2));
      records.stream().filter(r -> r.getAdapter().equals(adapter))
          .forEach(r -> log.append(tp, r.getAdapter(), r, 0));
      return CheckpointLocator.newest(log, CHECKPOINTS, adapter, java.time.Duration.ofSeconds(5),
          c -> versions.test(c.version()));
    };
  }

  /** Stops once every assigned partition has been read to its end and the trainer settled. */
  static BooleanSupplier drained(LogConsumer<byte[], byte[]> consumer) {
    int[] streak = {0};
    return () -> {
      Map<TopicPartition, Long> end = consumer.endOffsets(consumer.assignment());
      boolean atEnd = !consumer.assignment().isEmpty() && consumer.assignment().stream()
          .allMatch(tp -> consumer.position(tp) == end.get(tp));
      streak[0] = atEnd ? streak[0] + 1 : 0;
      return streak[0] >= 3;
    };
  }

  /** Each adapter's newest checkpoint among what {@code producers} wrote. */
  static Map<String, Checkpoint> finals(List<MockProducer<String, Object>> producers) {
    Map<String, Checkpoint> out = new java.util.TreeMap<>();
    for (String adapter : TENANTS) {
      checkpointsOf(producers).newest(adapter).ifPresent(c -> out.put(adapter, c));
    }
    return out;
  }

  static void assertSameAdapters(Map<String, Checkpoint> actual, Map<String, Checkpoint> expected) {
    assertThat(actual.keySet()).isEqualTo(expected.keySet());
    expected.forEach((adapter, e) -> {
      Checkpoint a = actual.get(adapter);
      assertThat(a.manifest().getStep()).as(adapter + " steps").isEqualTo(e.manifest().getStep());
      assertThat(a.manifest().getExamplesTrained()).as(adapter + " examples")
          .isEqualTo(e.manifest().getExamplesTrained());
      assertThat(a.manifest().getTokensTrained()).isEqualTo(e.manifest().getTokensTrained());
      for (String file : List.of(Checkpoint.ADAPTER_WEIGHTS, Checkpoint.OPTIMIZER)) {
        assertThat(a.files().get(file)).as(adapter + " " + file + ", bit for bit")
            .isEqualTo(e.files().get(file));
      }
    });
  }

  @Test
  void oneTrainerTrainsEveryAdapterOfItsPartitionsEachWithItsOwnStepsAndCheckpoints() {
    MockProducer<String, Object> producer = producer();
    LogConsumer<byte[], byte[]> consumer = tenants("trainers");
    List<Published> published = new CopyOnWriteArrayList<>();
    try (TrainerService service = everyAdapter(consumer, producer,
        checkpointsOf(List.of(producer)), 12)) {
      service.onPublished(published::add);
      service.run(drained(consumer));
      assertThat(service.metrics().evictions()).isZero();
    }
    Map<String, Checkpoint> finals = finals(List.of(producer));
    assertThat(finals).containsOnlyKeys(TENANTS);
    for (String adapter : TENANTS) {
      long examples = java.util.stream.IntStream.range(0, 60)
          .filter(i -> TENANTS.get((i * 7 + i / 6) % TENANTS.size()).equals(adapter))
          .filter(i -> !ExampleAdmission.heldOut(adapter + "-" + i, 0.25)).count();
      Checkpoint c = finals.get(adapter);
      assertThat(c.manifest().getExamplesTrained()).as(adapter).isEqualTo(examples);
      // Its boundary is in its own partition; its records go to its checkpoint partition.
      int partition = io.continualsft.schemas.AdapterPartitions.partitionFor(adapter, 2);
      assertThat(c.manifest().getSourceOffsets()).extracting(PartitionOffset::getPartition)
          .containsOnly(partition);
    }
    assertThat(new String(finals.get("hooli").files().get("adapter_config.json"),
        StandardCharsets.UTF_8)).as("the per-adapter override").contains("\"r\" : 2,");
    assertThat(new String(finals.get("acme").files().get("adapter_config.json"),
        StandardCharsets.UTF_8)).contains("\"r\" : 4,");
    // The group's offsets reach the end of both partitions, committed with the last checkpoints.
    Map<TopicPartition, OffsetAndMetadata> last =
        producer.consumerGroupOffsetsHistory().getLast().get("trainers");
    assertThat(last.keySet()).containsExactlyInAnyOrder(new TopicPartition(EXAMPLES, 0),
        new TopicPartition(EXAMPLES, 1));
    last.forEach((tp, o) -> assertThat(o.offset()).isEqualTo(consumer.endOffsets(List.of(tp))
        .get(tp)));
  }

  /**
   * adapters.max-known bounds what names can cost: of six adapters, the first four this trainer
   * meets train; every example of the other two is a dead letter, and the offsets commit past
   * them all the same.
   */
  @Test
  void pastMaxKnownAnAdapterNotYetKnownIsADeadLetterAndTheRestTrain() {
    MockProducer<String, Object> producer = producer();
    LogConsumer<byte[], byte[]> consumer = tenants("trainers");
    try (TrainerService service = everyAdapter(consumer, producer,
        checkpointsOf(List.of(producer)), 12, 4)) {
      service.run(drained(consumer));
    }
    List<Rejection> dead = producer.history().stream().filter(r -> r.topic().equals(DLQ))
        .map(r -> (Rejection) r.value()).toList();
    Map<String, Checkpoint> finals = finals(List.of(producer));
    assertThat(finals).hasSize(4);
    List<String> refused = TENANTS.stream().filter(a -> !finals.containsKey(a)).toList();
    assertThat(refused).hasSize(2);
    long refusedExamples = java.util.stream.IntStream.range(0, 60)
        .filter(i -> refused.contains(TENANTS.get((i * 7 + i / 6) % TENANTS.size()))).count();
    assertThat(dead).hasSize((int) refusedExamples);
    assertThat(dead).extracting(Rejection::getReason)
        .containsOnly(io.continualsft.avro.RejectionReason.ADAPTER_NOT_ALLOWED);
    assertThat(dead.getFirst().getDetail()).matches("adapter \"(" + String.join("|", refused)
        + ")\" would be one more than adapters.max-known \\(4\\) on this trainer");
    Map<TopicPartition, OffsetAndMetadata> last =
        producer.consumerGroupOffsetsHistory().getLast().get("trainers");
    last.forEach((tp, o) -> assertThat(o.offset()).isEqualTo(consumer.endOffsets(List.of(tp))
        .get(tp)));
  }

  @Test
  void withTwoResidentAdaptersOfSixEvictionAndRestoreChangeNothingInTheResults() {
    MockProducer<String, Object> allResident = producer();
    LogConsumer<byte[], byte[]> first = tenants("trainers");
    try (TrainerService service = everyAdapter(first, allResident,
        checkpointsOf(List.of(allResident)), 12)) {
      service.run(drained(first));
    }
    MockProducer<String, Object> twoResident = producer();
    LogConsumer<byte[], byte[]> second = tenants("trainers");
    try (TrainerService service = everyAdapter(second, twoResident,
        checkpointsOf(List.of(twoResident)), 2)) {
      service.run(drained(second));
      assertThat(service.metrics().evictions()).isGreaterThan(4);
      assertThat(service.metrics().restores()[0]).isGreaterThan(0);
    }
    assertSameAdapters(finals(List.of(twoResident)), finals(List.of(allResident)));
  }

  @Test
  void aGenerationThatMovedOnAbortsTheTransactionAndTheTrainerStartsOverFromTheCommittedOffsets() {
    MockProducer<String, Object> reference = producer();
    LogConsumer<byte[], byte[]> all = tenants("trainers");
    try (TrainerService service = everyAdapter(all, reference,
        checkpointsOf(List.of(reference)), 12)) {
      service.run(drained(all));
    }
    // The fourth transaction fails as a stale generation makes it fail on a real broker.
    int[] transactions = {0};
    MockProducer<String, Object> producer = new MockProducer<>(clusterOf(), true, null,
        (t, k) -> k == null ? null : k.getBytes(StandardCharsets.UTF_8), (t, v) -> new byte[0]) {
      @Override
      public void sendOffsetsToTransaction(Map<TopicPartition, OffsetAndMetadata> offsets,
          org.apache.kafka.clients.consumer.ConsumerGroupMetadata group) {
        if (++transactions[0] == 4) {
          throw new org.apache.kafka.clients.consumer.CommitFailedException(
              "Specified group generation id is not valid.");
        }
        super.sendOffsetsToTransaction(offsets, group);
      }
    };
    LogConsumer<byte[], byte[]> consumer = tenants("trainers");
    try (TrainerService service = everyAdapter(consumer, producer,
        checkpointsOf(List.of(producer)), 3)) {
      service.run(drained(consumer));
      assertThat(service.state()).isEqualTo("STOPPED");
    }
    assertThat(transactions[0]).isGreaterThan(4);
    assertSameAdapters(finals(List.of(producer)), finals(List.of(reference)));
  }

  @Test
  void aPartitionHandedToAnotherTrainerMidRunEndsBitIdenticalAndEachExampleCountsOnce() {
    MockProducer<String, Object> reference = producer();
    LogConsumer<byte[], byte[]> all = tenants("trainers");
    try (TrainerService service = everyAdapter(all, reference,
        checkpointsOf(List.of(reference)), 12)) {
      service.run(drained(all));
    }
    // Trainer 1 owns both partitions; after its second checkpoint partition 1 moves away.
    TopicPartition p0 = new TopicPartition(EXAMPLES, 0);
    TopicPartition p1 = new TopicPartition(EXAMPLES, 1);
    MockProducer<String, Object> one = producer();
    MockProducer<String, Object> two = producer();
    CheckpointSource shared = checkpointsOf(List.of(one, two));
    LogConsumer<byte[], byte[]> first = tenants("trainers");
    List<Published> published = new CopyOnWriteArrayList<>();
    BooleanSupplier firstDone = drained(first);
    try (TrainerService service = everyAdapter(first, one, shared, 3)) {
      service.onPublished(published::add);
      boolean[] moved = {false};
      service.run(() -> {
        if (!moved[0] && published.size() >= 2) {
          moved[0] = true;
          first.rebalance(List.of(p0)); // revokes p1: checkpointed and committed first
        }
        return moved[0] && firstDone.getAsBoolean();
      });
    }
    // The last commit with p1 is the one at its revocation; later ones have p0 alone.
    Map<TopicPartition, OffsetAndMetadata> handedOver = one.consumerGroupOffsetsHistory()
        .stream().map(m -> m.get("trainers")).filter(m -> m.containsKey(p1)).toList().getLast();
    assertThat(one.consumerGroupOffsetsHistory().getLast().get("trainers")).containsOnlyKeys(p0);
    assertThat(handedOver.get(p1).offset()).as("handed over with work left")
        .isLessThan(first.endOffsets(List.of(p1)).get(p1));
    // Trainer 2 takes p1 from the committed offset, as the group would give it.
    LogConsumer<byte[], byte[]> second = tenants("trainers");
    second.commitSync(Map.of(p1, handedOver.get(p1)));
    second.updatePartitions(EXAMPLES, List.of(new PartitionInfo(EXAMPLES, 1, null, null, null)));
    try (TrainerService service = everyAdapter(second, two, shared, 3)) {
      service.run(drained(second));
    }
    assertThat(checkpointRecords(two)).as("trainer 2 trained what was left of p1").isNotEmpty();
    assertSameAdapters(finals(List.of(one, two)), finals(List.of(reference)));
  }

  /** The newest complete checkpoint among {@code records}, as the locator reads them. */
  static Optional<Checkpoint> newest(List<CheckpointRecord> records, String adapter) {
    LogConsumer<String, CheckpointRecord> log = new LogConsumer<>(100);
    log.createTopic(CHECKPOINTS, 2);
    TopicPartition tp = new TopicPartition(CHECKPOINTS, CheckpointLocator.partitionFor(adapter, 2));
    records.forEach(r -> log.append(tp, r.getAdapter(), r, 0));
    return CheckpointLocator.newest(log, CHECKPOINTS, adapter, java.time.Duration.ofSeconds(5));
  }
}
