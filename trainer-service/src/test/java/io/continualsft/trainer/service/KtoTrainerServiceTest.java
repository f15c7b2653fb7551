package io.continualsft.trainer.service;

import static io.continualsft.trainer.service.TrainerServiceTest.CHECKPOINTS;
import static io.continualsft.trainer.service.TrainerServiceTest.CLOCK;
import static io.continualsft.trainer.service.TrainerServiceTest.IDENTITY;
import static io.continualsft.trainer.service.TrainerServiceTest.checkpointRecords;
import static io.continualsft.trainer.service.TrainerServiceTest.newest;
import static io.continualsft.trainer.service.TrainerServiceTest.producer;
import static io.continualsft.trainer.service.TrainerServiceTest.releases;
import static io.continualsft.trainer.service.TrainerServiceTest.releasesOf;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.continualsft.avro.AdapterRelease;
import io.continualsft.avro.CheckpointManifest;
import io.continualsft.avro.PartitionOffset;
import io.continualsft.avro.PreferenceExample;
import io.continualsft.avro.SftExample;
import io.continualsft.schemas.registry.InMemorySchemaRegistry;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointFiles;
import io.continualsft.trainer.checkpoint.CheckpointSource;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.testing.LogConsumer;
import io.continualsft.trainer.train.AdapterTraining;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Supplier;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code objective=kto} in the streaming trainer, on Kafka's mocks and a real (tiny) model: an
 * adapter learns from the preference examples topic, with checkpoints, exactly-once offsets,
 * replay, a bit-identical resume and the gate, as an SFT adapter does from the examples topic.
 */
@Timeout(300) // a safety net for a loop that never meets its stop condition, not a measurement
class KtoTrainerServiceTest {
  static final String PREFERENCES = "preference-examples";
  static final TopicPartition IN = new TopicPartition(PREFERENCES, 0);
  static final TopicPartition SFT_IN = new TopicPartition(TrainerServiceTest.EXAMPLES, 0);

  private final InMemorySchemaRegistry registry = new InMemorySchemaRegistry();
  private final Serializer<org.apache.avro.generic.GenericContainer> serializer =
      new AvroSerializer<>(registry, false);

  static TrainerSettings settings() {
    // Every completion has 5 tokens: a step of 10 tokens is two examples, KTO's fewest.
    return TrainerServiceTest.settings().toBuilder().set(TrainerConfig.OBJECTIVE,
            io.continualsft.trainer.config.AdapterObjectives.parse("kto"))
        .set(TrainerConfig.TOPIC_PREFERENCE_EXAMPLES, PREFERENCES)
        .set(TrainerConfig.LORA_DROPOUT, 0.0).build();
  }

  /**
   * A rated turn: a prompt of 6–9 tokens, then a 5-token completion from the desirable
   * vocabulary (10–29) or the undesirable one (60–79).
   */
  static PreferenceExample preference(String id, int seed, boolean desirable) {
    List<Integer> ids = new ArrayList<>();
    int prompt = 6 + seed % 4;
    for (int i = 0; i < prompt; i++) {
      ids.add(30 + (i * 7 + seed * 13) % 30);
    }
    for (int i = 0; i < 5; i++) {
      ids.add((desirable ? 10 : 60) + (i * 3 + seed) % 20);
    }
    return PreferenceExample.newBuilder().setConversationId(id).setTurn(1).setAdapter("default")
        .setSubject(null).setDesirable(desirable).setCorrected(false).setInputIds(ids)
        .setCompletionStart(prompt).setCompletionEnd(prompt + 5)
        .setRating(desirable ? "up" : "down").setScore(null).setFeedbackSource("thumbs")
        .setTokenizerFingerprint(IDENTITY.tokenizerFingerprint()).setTemplateFingerprint("x")
        .setSourceTopic("conversations").setSourcePartition(0).setSourceOffset(seed)
        .setCreatedAt(Instant.ofEpochMilli(1_795_000_000_000L)).build();
  }

  /** {@code n} rated turns, alternately up and down; an even number trained (see below). */
  private Supplier<LogConsumer<byte[], byte[]>> input(List<String> trained, int n) {
    List<PreferenceExample> examples = new ArrayList<>();
    for (int i = 0; examples.size() < n || trained.size() % 2 == 1; i++) {
      PreferenceExample p = preference("c-" + i, i, i % 2 == 0);
      examples.add(p);
      if (!ExampleAdmission.heldOut(p.getConversationId(), 0.25)) {
        trained.add(p.getConversationId());
      }
    }
    return () -> {
      LogConsumer<byte[], byte[]> consumer = new LogConsumer<byte[], byte[]>(7)
          .inGroup("sft-trainer-default");
      consumer.createTopic(PREFERENCES, 1);
      consumer.createTopic(TrainerServiceTest.EXAMPLES, 1);
      for (PreferenceExample p : examples) {
        consumer.append(IN, p.getConversationId().getBytes(StandardCharsets.UTF_8),
            serializer.serialize(PREFERENCES, p), 0);
        // The same turn's SFT example, which a KTO adapter does not learn from.
        consumer.append(SFT_IN, p.getConversationId().getBytes(StandardCharsets.UTF_8),
            serializer.serialize(TrainerServiceTest.EXAMPLES,
                TrainerServiceTest.example(p.getConversationId(), 1)), 0);
      }
      return consumer;
    };
  }

  private Deserializer<Object> records() {
    return TrainerWiring.inputRecords(PREFERENCES, registry);
  }

  private TrainerService service(TrainerSettings s, LogConsumer<byte[], byte[]> consumer,
      MockProducer<String, Object> producer, CheckpointSource checkpoints,
      LogConsumer<byte[], byte[]> replayLog) {
    AdapterTraining training = AdapterTraining.open(s, NDManager.newBaseManager());
    return new TrainerService(s, new TrainerService.Clients(consumer, producer, records(),
        checkpoints, releasesOf(producer),
        replayLog == null ? null : new ExampleLog(replayLog, Duration.ofSeconds(5))),
        training, IDENTITY, new TrainerMetrics(new SimpleMeterRegistry()), CLOCK, List.of());
  }

  private static List<Published> runToEnd(TrainerService service,
      LogConsumer<byte[], byte[]> consumer) {
    List<Published> published = new CopyOnWriteArrayList<>();
    service.onPublished(published::add);
    long end = consumer.endOffsets(List.of(IN)).get(IN);
    service.run(() -> !published.isEmpty()
        && published.getLast().offsets().getOrDefault(IN, -1L) == end);
    return published;
  }

  @Test
  void aKtoAdapterLearnsFromRatedTurnsOnlyAndTheGateScoresItsHeldOutOnes() {
    List<String> trained = new ArrayList<>();
    Supplier<LogConsumer<byte[], byte[]>> input = input(trained, 24);
    MockProducer<String, Object> producer = producer();
    LogConsumer<byte[], byte[]> consumer = input.get();
    List<Published> published;
    try (TrainerService service = service(settings(), consumer, producer,
        (adapter, versions) -> Optional.empty(), null)) {
      published = runToEnd(service, consumer);
    }
    Published last = published.getLast();
    assertThat(last.examplesTrained()).as("each rated turn not held out, once")
        .isEqualTo(trained.size());
    assertThat(last.tokensTrained()).as("the completions' tokens").isEqualTo(5L * trained.size());
    Checkpoint end = newest(checkpointRecords(producer), "default").orElseThrow();
    CheckpointManifest manifest = end.manifest();
    assertThat(manifest.getStep()).as("two examples a step").isEqualTo(trained.size() / 2);
    assertThat(manifest.getSourceOffsets()).containsExactly(PartitionOffset.newBuilder()
        .setTopic(PREFERENCES).setPartition(0).setOffset(consumer.endOffsets(List.of(IN))
            .get(IN)).build());
    assertThat(manifest.getMetrics().get("eval_reward_accuracy")).isBetween(0.0, 1.0);
    assertThat(manifest.getLineage()).extracting(e -> e.getConversationId().toString())
        .containsExactlyInAnyOrderElementsOf(trained.subList(
            trained.size() - manifest.getLineage().size(), trained.size()));
    // The held-out rated turns are kept with their ratings, and scored by the KTO loss.
    List<Batch.Example> evalSet = CheckpointFiles.decode(end, IDENTITY, settings().lora())
        .state().evalSet();
    assertThat(evalSet).isNotEmpty();
    assertThat(evalSet).extracting(Batch.Example::rating).doesNotContain(Batch.Rating.NONE)
        .contains(Batch.Rating.DESIRABLE, Batch.Rating.UNDESIRABLE);
    // The base model's KTO loss is 1 - sigmoid(0) = 0.5 for every example, exactly: what the
    // first candidate faces.
    AdapterRelease first = releases(producer).getFirst();
    assertThat(first.getMetrics()).containsEntry("baseline_eval_loss", 0.5);
    assertThat(first.getMetrics().get("eval_loss")).isLessThan(0.5);
  }

  @Test
  void withReplayARestartedKtoTrainerEndsBitIdenticalToAnUninterruptedOne() {
    List<String> trained = new ArrayList<>();
    Supplier<LogConsumer<byte[], byte[]>> input = input(trained, 30);
    TrainerSettings s = settings().toBuilder().set(TrainerConfig.REPLAY_FRACTION, 0.25).build();
    MockProducer<String, Object> reference = producer();
    LogConsumer<byte[], byte[]> all = input.get();
    List<Published> uninterrupted;
    try (TrainerService service = service(s, all, reference,
        (adapter, versions) -> Optional.empty(), input.get())) {
      uninterrupted = runToEnd(service, all);
    }
    MockProducer<String, Object> stopped = producer();
    try (TrainerService service = service(s, input.get(), stopped,
        (adapter, versions) -> Optional.empty(), input.get())) {
      List<Published> published = new CopyOnWriteArrayList<>();
      service.onPublished(published::add);
      service.run(() -> !published.isEmpty());
    }
    MockProducer<String, Object> resumed = producer();
    LogConsumer<byte[], byte[]> again = input.get();
    try (TrainerService service = service(s, again, resumed,
        (adapter, versions) -> newest(checkpointRecords(stopped), adapter), input.get())) {
      runToEnd(service, again);
    }
    Published last = uninterrupted.getLast();
    assertThat(last.examplesTrained()).isEqualTo(trained.size());
    assertThat(last.examplesReplayed()).as("one drawn back per step of two, from the second")
        .isBetween(1L, (long) trained.size() / 2);
    Checkpoint end = newest(checkpointRecords(resumed), "default").orElseThrow();
    Checkpoint expected = newest(checkpointRecords(reference), "default").orElseThrow();
    assertThat(end.manifest().getMetrics()).isEqualTo(expected.manifest().getMetrics());
    for (String file : List.of(Checkpoint.ADAPTER_WEIGHTS, Checkpoint.OPTIMIZER,
        Checkpoint.TRAINER_STATE)) {
      assertThat(end.files().get(file)).as(file + ", bit for bit")
          .isEqualTo(expected.files().get(file));
    }
  }

  @Test
  void aLoneRatedTurnWaitsForASecondAndTheCheckpointEndsBeforeIt() {
    List<String> trained = new ArrayList<>();
    Supplier<LogConsumer<byte[], byte[]>> input = input(trained, 8);
    LogConsumer<byte[], byte[]> consumer = input.get();
    // One more trained turn: an odd number, the last of which has no partner yet.
    int extra = 100;
    while (ExampleAdmission.heldOut("c-" + extra, 0.25)) {
      extra++;
    }
    PreferenceExample lone = preference("c-" + extra, extra, true);
    long loneOffset = consumer.append(IN, new byte[0], serializer.serialize(PREFERENCES, lone),
        0);
    MockProducer<String, Object> producer = producer();
    try (TrainerService service = service(settings(), consumer, producer,
        (adapter, versions) -> Optional.empty(), null)) {
      service.run(TrainerServiceTest.drained(consumer));
    }
    Checkpoint end = newest(checkpointRecords(producer), "default").orElseThrow();
    assertThat(end.manifest().getExamplesTrained()).isEqualTo(trained.size());
    // The boundary stays after the last trained turn (the lone one, and any held-out turn read
    // after that step, are read again by the next trainer: nothing is lost).
    long afterLastStep = Long.parseLong(trained.getLast().substring(2)) + 1;
    assertThat(end.manifest().getSourceOffsets().getFirst().getOffset())
        .isEqualTo(afterLastStep).isLessThanOrEqualTo(loneOffset);
  }

  /**
   * {@code adapter.id=*} with {@code objective=default=kto}: the trainer reads both topics;
   * "default" learns from its rated turns only, "sales" from its SFT examples only, and each
   * skips the other objective's records of it.
   */
  @Test
  void objectivesArePerAdapterInOneTrainerOfEveryAdapter() {
    List<String> trained = new ArrayList<>();
    LogConsumer<byte[], byte[]> consumer = input(trained, 12).get();
    consumer.inGroup("trainers");
    int sales = 0;
    for (int i = 0; i < 12; i++) {
      SftExample e = TrainerServiceTest.example("s-" + i, i);
      e.setAdapter("sales");
      consumer.append(SFT_IN, new byte[0], serializer.serialize(TrainerServiceTest.EXAMPLES, e),
          0);
      sales += ExampleAdmission.heldOut("s-" + i, 0.25) ? 0 : 1;
    }
    long turns = consumer.endOffsets(List.of(IN)).get(IN);
    TrainerSettings s = settings().toBuilder().set(TrainerConfig.ADAPTER, "*")
        .set(TrainerConfig.GROUP_ID, "trainers").set(TrainerConfig.TRANSACTIONAL_ID, "trainer-1")
        .set(TrainerConfig.OBJECTIVE,
            io.continualsft.trainer.config.AdapterObjectives.parse("default=kto"))
        .build();
    assertThat(s.inputTopics()).containsExactly(TrainerServiceTest.EXAMPLES, PREFERENCES);
    MockProducer<String, Object> producer = producer();
    TrainerMetrics metrics = new TrainerMetrics(new SimpleMeterRegistry());
    try (TrainerService service = new TrainerService(s, new TrainerService.Clients(consumer,
        producer, records(), (adapter, versions) -> Optional.empty(), releasesOf(producer), null),
        AdapterTraining.open(s, NDManager.newBaseManager()), IDENTITY, metrics, CLOCK,
        List.of())) {
      service.run(TrainerServiceTest.drained(consumer));
    }
    Checkpoint kto = newest(checkpointRecords(producer), "default").orElseThrow();
    Checkpoint sft = newest(checkpointRecords(producer), "sales").orElseThrow();
    assertThat(kto.manifest().getExamplesTrained()).isEqualTo(trained.size());
    assertThat(kto.manifest().getMetrics()).containsKey("eval_reward_accuracy");
    assertThat(sft.manifest().getExamplesTrained()).isEqualTo(sales);
    assertThat(sft.manifest().getMetrics()).doesNotContainKey("eval_reward_accuracy");
    assertThat(metrics.registry().get("sft.trainer.examples.skipped")
        .tag("reason", "OTHER_OBJECTIVE").counter().count())
        .as("default's SFT examples, one per rated turn").isEqualTo((double) turns);
  }

  /**
   * An adapter trained by SFT, then switched to KTO: the KTO trainer continues from the SFT
   * checkpoint (versions and totals go on), and scores only rated turns, leaving out the SFT
   * examples the restored eval set still holds.
   */
  @Test
  void anAdapterSwitchedFromSftToKtoContinuesFromItsCheckpoint() {
    List<String> trained = new ArrayList<>();
    Supplier<LogConsumer<byte[], byte[]>> input = input(trained, 12);
    MockProducer<String, Object> sft = producer();
    LogConsumer<byte[], byte[]> first = input.get();
    long sftEnd = first.endOffsets(List.of(SFT_IN)).get(SFT_IN);
    TrainerSettings sftSettings = settings().toBuilder()
        .set(TrainerConfig.OBJECTIVE, io.continualsft.trainer.config.AdapterObjectives.SFT)
        .build();
    try (TrainerService service = service(sftSettings, first, sft,
        (adapter, versions) -> Optional.empty(), null)) {
      List<Published> published = new CopyOnWriteArrayList<>();
      service.onPublished(published::add);
      service.run(() -> !published.isEmpty()
          && published.getLast().offsets().getOrDefault(SFT_IN, -1L) == sftEnd);
    }
    Checkpoint afterSft = newest(checkpointRecords(sft), "default").orElseThrow();
    assertThat(CheckpointFiles.decode(afterSft, IDENTITY, sftSettings.lora()).state().evalSet())
        .as("SFT examples held out").isNotEmpty()
        .allSatisfy(e -> assertThat(e.rating()).isEqualTo(Batch.Rating.NONE));

    MockProducer<String, Object> kto = producer();
    LogConsumer<byte[], byte[]> second = input.get();
    try (TrainerService service = service(settings(), second, kto,
        (adapter, versions) -> newest(checkpointRecords(sft), adapter), null)) {
      runToEnd(service, second);
    }
    Checkpoint end = newest(checkpointRecords(kto), "default").orElseThrow();
    assertThat(checkpointRecords(kto).getFirst().getVersion()).isEqualTo(afterSft.version() + 1);
    assertThat(end.manifest().getExamplesTrained())
        .isEqualTo(afterSft.manifest().getExamplesTrained() + trained.size());
    assertThat(end.manifest().getMetrics().get("eval_reward_accuracy")).isBetween(0.0, 1.0);
  }
}
