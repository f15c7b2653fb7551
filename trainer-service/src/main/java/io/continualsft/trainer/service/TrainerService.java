package io.continualsft.trainer.service;

import io.continualsft.avro.AdapterRelease;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.ReleaseDecision;
import io.continualsft.avro.RejectionReason;
import io.continualsft.avro.SftExample;
import io.continualsft.runtime.metrics.MetricsServer;
import io.continualsft.schemas.serde.BadRecordException;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointFiles;
import io.continualsft.trainer.checkpoint.CheckpointLocator;
import io.continualsft.trainer.checkpoint.CheckpointSource;
import io.continualsft.trainer.checkpoint.TrainingState;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.lora.PeftAdapter;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.ModelIdentity;
import io.continualsft.trainer.release.ReleaseGate;
import io.continualsft.trainer.release.ReleaseSource;
import io.continualsft.trainer.release.Releases;
import io.continualsft.trainer.train.AdapterTraining;
import io.continualsft.trainer.train.LoraTrainer;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Deserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The continual trainer: consume examples, take LoRA steps, publish checkpoints, exactly once.
 *
 * <p>A step's examples are the next examples of the stream (in offset order) until their trained
 * tokens reach {@code step.tokens} (or their number {@code step.examples}, when set), or all that
 * is there when the trainer has caught up with the end of the topic. Micro-batches are a pure
 * function of those examples. Checkpoints are cut only between steps, so the offsets they record
 * are exact: everything before them is trained (or dead-lettered, skipped, held out) and nothing
 * after. The checkpoint's records, the dead letters since the last one and the consumer offsets
 * commit in one transaction. A restarted trainer restores adapter, optimizer moments and step
 * from the newest checkpoint and seeks to its offsets, so it repeats an uninterrupted run bit for
 * bit.
 *
 * <p>What talks to Kafka comes in through the constructor ({@link Clients}), so the poll and
 * commit logic runs against Kafka's mocks in a unit test; {@link TrainerWiring#create} builds the
 * real ones.
 */
public final class TrainerService implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(TrainerService.class);

  /**
   * What the service reads and writes through: the examples consumer (assigned and sought here),
   * a transactional producer, the examples' deserializer, where checkpoints and the current
   * release are found, and the examples topic read back by offset for replay (null without).
   */
  public record Clients(Consumer<byte[], byte[]> consumer, Producer<String, Object> producer,
      Deserializer<SftExample> examples, CheckpointSource checkpoints, ReleaseSource releases,
      ExampleLog replay) {
    /** Without releases to read (none yet) and without replay. */
    public Clients(Consumer<byte[], byte[]> consumer, Producer<String, Object> producer,
        Deserializer<SftExample> examples, CheckpointSource checkpoints) {
      this(consumer, producer, examples, checkpoints, ReleaseSource.none(), null);
    }
  }

  /**
   * What a committed checkpoint recorded, and what became of the candidate: for a caller that
   * watches the service run.
   *
   * @param retentionLoss the candidate's loss on the retention set (NaN without one)
   * @param released whether this checkpoint was released in its transaction
   * @param gate why it was (not) released, with the numbers
   */
  public record Published(long version, long step, long examplesTrained,
      long examplesInSkippedSteps, long tokensTrained, double evalLoss,
      Map<TopicPartition, Long> offsets, long examplesReplayed, double retentionLoss,
      boolean released, ReleaseGate.Reason reason, String gate) {}

  /**
   * What the gate compares a candidate with: the current release's adapter (or the base model,
   * version 0, before the first release) and its retention loss. {@code weights} is null when
   * the release's checkpoint is no longer on the topic; its recorded metrics stand in then.
   */
  private record Baseline(long version, Map<String, float[]> weights, double retentionLoss,
      double recordedEvalLoss) {}

  private final TrainerSettings settings;
  private final Clients clients;
  private final AdapterTraining training;
  private final ModelIdentity identity;
  private final TrainerMetrics metrics;
  private final Clock clock;
  private final ExampleAdmission admission;
  private final StepBookkeeping books;
  private final PendingDeadLetters deadLetters;
  private final ProgressLine progress;
  private final ReleaseGate gate;
  private final List<Batch.Example> retention;
  private final ReplayDraw replay;
  private Baseline baseline;
  private final List<AutoCloseable> alsoClose = new ArrayList<>();
  private MetricsServer metricsServer;
  private volatile java.util.function.Consumer<Published> onPublished = published -> { };
  private volatile String state = "STARTING";

  public TrainerService(TrainerSettings settings, Clients clients, AdapterTraining training,
      ModelIdentity identity, TrainerMetrics metrics, Clock clock) {
    this(settings, clients, training, identity, metrics, clock, List.of());
  }

  /** {@code retention}: the retention set, labelled (empty: none). */
  public TrainerService(TrainerSettings settings, Clients clients, AdapterTraining training,
      ModelIdentity identity, TrainerMetrics metrics, Clock clock,
      List<Batch.Example> retention) {
    this.settings = settings;
    this.clients = clients;
    this.training = training;
    this.identity = identity;
    this.metrics = metrics;
    this.clock = clock;
    this.admission = new ExampleAdmission(settings.adapter(), identity.tokenizerFingerprint(),
        training.vocabSize(), settings.steps().maxLength(), settings.eval().fraction());
    this.books = new StepBookkeeping(settings.steps().stepTokens(),
        settings.steps().stepExamples(), settings.eval().maxExamples(), clock.instant());
    this.deadLetters = new PendingDeadLetters(settings.kafka().deadLetterTopic(),
        settings.kafka().transactionalId());
    this.progress = new ProgressLine(clock.instant());
    this.gate = new ReleaseGate(settings.gate());
    this.retention = List.copyOf(retention);
    if (settings.replay().fraction() > 0 && clients.replay() == null) {
      throw new IllegalArgumentException("replay.fraction is " + settings.replay().fraction()
          + " but no examples log to replay from was given");
    }
    this.replay = new ReplayDraw(settings.replay(), settings.seed(), clients.replay(),
        clients.examples(), admission, this.retention);
  }

  /** The production service: real Kafka clients, registry, model and metrics endpoint. */
  public static TrainerService create(TrainerSettings settings) {
    return TrainerWiring.create(settings, p -> p);
  }

  /**
   * As {@link #create(TrainerSettings)}, with the transactional producer passed through {@code
   * decorate} first: for observing or failing what the trainer sends (a test that kills a
   * trainer between beginTransaction and commitTransaction).
   */
  public static TrainerService create(TrainerSettings settings,
      java.util.function.UnaryOperator<Producer<String, Object>> decorate) {
    return TrainerWiring.create(settings, decorate);
  }

  /** Closed with the service (the registry client). */
  void closeWith(AutoCloseable resource) {
    alsoClose.add(resource);
  }

  /** Serves /metrics and /health (healthy unless FAILED) until the service closes. */
  void serveMetrics(String host, int port, PrometheusMeterRegistry registry) {
    metricsServer = MetricsServer.start(host, port, registry,
        () -> new MetricsServer.Health(!state.equals("FAILED"), state));
    alsoClose.add(metricsServer);
  }

  /** The port of /metrics, or -1 without an endpoint. */
  public int metricsPort() {
    return metricsServer == null ? -1 : metricsServer.port();
  }

  /** Called on the training thread after each checkpoint's transaction commits; keep it short. */
  public void onPublished(java.util.function.Consumer<Published> listener) {
    this.onPublished = listener;
  }

  public TrainerMetrics metrics() {
    return metrics;
  }

  public MeterRegistry meters() {
    return metrics.registry();
  }

  /** STARTING, RUNNING, STOPPED or FAILED; healthy unless FAILED. */
  public String state() {
    return state;
  }

  /** Runs until {@code stop} says so; then publishes what has been trained since the last checkpoint. */
  public void run(BooleanSupplier stop) {
    // libtorch records graphs on any thread that has not switched grad mode off; only the
    // trainer's GradientCollector should.
    ai.djl.pytorch.jni.JniUtils.setGradMode(false);
    initTransactions(stop); // fences any earlier trainer with the same transactional id
    Consumer<byte[], byte[]> consumer = clients.consumer();
    List<TopicPartition> partitions = consumer.partitionsFor(settings.kafka().examplesTopic())
        .stream().map(p -> new TopicPartition(p.topic(), p.partition())).toList();
    consumer.assign(partitions);
    books.start(restore(partitions));
    // Fails now, naming the releases topic, when it is missing: not at the first checkpoint.
    metrics.releasedVersion(settings.adapter(), clients.releases().current(settings.adapter())
        .map(AdapterRelease::getVersion).orElse(0L));
    state = "RUNNING";
    try {
      while (!stop.getAsBoolean()) {
        ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
        for (ConsumerRecord<byte[], byte[]> r : records) {
          books.read(new TopicPartition(r.topic(), r.partition()), r.offset());
          accept(r);
          if (books.stepFull()) {
            step();
          }
        }
        if (records.isEmpty() && caughtUp(partitions)) {
          metrics.lag(0);
          if (books.hasPendingExamples()) {
            step(); // the end of what is there: train it rather than wait
          }
          // Past the transaction markers too, so the committed offsets reach the end of the
          // partition and the group's lag reads 0 rather than 1 when all is trained.
          for (TopicPartition tp : partitions) {
            books.readUpTo(tp, consumer.position(tp));
          }
          if (books.settle()) {
            checkpoint();
          }
        }
      }
      books.settle();
      if (books.dirty()) {
        checkpoint(); // clean shutdown: publish the last boundary
      }
      state = "STOPPED";
    } catch (RuntimeException e) {
      state = "FAILED";
      throw e;
    }
  }

  /**
   * Registers the transactional id, waiting out a broker that is down or restarting: the
   * producer allows initTransactions to be retried after a timeout.
   */
  private void initTransactions(BooleanSupplier stop) {
    for (int attempt = 1; ; attempt++) {
      try {
        clients.producer().initTransactions();
        return;
      } catch (org.apache.kafka.common.errors.TimeoutException e) {
        if (stop.getAsBoolean()) {
          throw e;
        }
        log.warn("no transaction coordinator yet for {} (attempt {}: {}); is the broker at {}"
            + " reachable? retrying", settings.kafka().transactionalId(), attempt, e.getMessage(),
            settings.kafka().bootstrapServers());
      }
    }
  }

  private boolean caughtUp(List<TopicPartition> partitions) {
    Map<TopicPartition, Long> end = clients.consumer().endOffsets(partitions);
    for (TopicPartition tp : partitions) {
      if (clients.consumer().position(tp) < end.get(tp)) {
        return false;
      }
    }
    return true;
  }

  private void accept(ConsumerRecord<byte[], byte[]> r) {
    SftExample example;
    try {
      example = clients.examples().deserialize(r.topic(), r.value());
    } catch (BadRecordException e) {
      deadLetter(r, e.reason(), e.getMessage());
      return;
    }
    if (example == null) {
      deadLetter(r, RejectionReason.CORRUPT_AVRO, "the record has no value (a tombstone)");
      return;
    }
    switch (admission.admit(example)) {
      case ExampleAdmission.Train t -> books.admit(t.example(), t.trainedTokens());
      case ExampleAdmission.HeldOut h -> {
        metrics.skipped(TrainerMetrics.Skip.HELD_OUT);
        books.holdOut(h.example());
      }
      case ExampleAdmission.OtherAdapter o -> {
        metrics.skipped(TrainerMetrics.Skip.OTHER_ADAPTER);
        books.passOver();
      }
      case ExampleAdmission.Rejected rejected -> deadLetter(r, rejected.reason(), rejected.detail());
    }
  }

  private void deadLetter(ConsumerRecord<byte[], byte[]> r, RejectionReason reason, String detail) {
    metrics.deadLetter(reason);
    deadLetters.add(r, reason, detail, Instant.ofEpochMilli(clock.millis()));
    books.passOver();
    if (deadLetters.full()) {
      // Sent only in a checkpoint's transaction (exactly once with the offsets), so a burst of
      // bad records brings the checkpoint forward: the open step is trained as it is.
      if (books.hasPendingExamples()) {
        step();
      }
      if (deadLetters.full() && books.settle()) {
        checkpoint();
      }
    }
  }

  private void step() {
    long started = System.nanoTime();
    List<Batch.Example> window = books.window();
    ReplayDraw.Drawn replayed = replay.draw(training.step() + 1, window.size(),
        books.trainedThrough());
    List<Batch.Example> examples = window;
    if (!replayed.examples().isEmpty()) {
      examples = new ArrayList<>(window);
      examples.addAll(replayed.examples());
    }
    LoraTrainer.StepResult result = training.step(examples);
    long nanos = System.nanoTime() - started;
    books.stepped(result, replayed.examples().size(), replayed.trainedTokens());
    metrics.stepped(result, window.size(), replayed.examples().size(), replayed.trainedTokens(),
        nanos, books.lastLoss(), books.lastGradNorm());
    if (!result.applied()) {
      log.warn("step {} skipped: loss {} gradient norm {} (not finite; non-finite gradients in {})",
          result.step(), result.loss(), result.gradNorm(), result.nonFiniteGradients());
    }
    progress.add(result.trainedTokens());
    if (result.step() % settings.observability().progressEverySteps() == 0) {
      long lag = lag();
      metrics.lag(lag);
      metrics.tokensPerSecond(progress.print(result, books.examplesTrained(), lag, clock.instant()));
      log.debug("step {}: loss {} grad norm {} (full precision)", result.step(), result.loss(),
          result.gradNorm());
    }
    if (books.checkpointDue(settings.checkpoints().everySteps(),
        settings.checkpoints().everySeconds(), clock.instant())) {
      checkpoint();
    }
  }

  /** Records between the trainer's position and the end of its input. */
  private long lag() {
    Consumer<byte[], byte[]> consumer = clients.consumer();
    long lag = 0;
    Map<TopicPartition, Long> end = consumer.endOffsets(consumer.assignment());
    for (TopicPartition tp : consumer.assignment()) {
      lag += Math.max(0, end.get(tp) - consumer.position(tp));
    }
    return lag;
  }

  // --- checkpoints ---------------------------------------------------------------------------

  private void checkpoint() {
    long started = System.nanoTime();
    PeftAdapter adapter;
    try {
      adapter = training.adapter(identity.baseModelName());
    } catch (IllegalStateException nonFinite) {
      state = "FAILED";
      throw nonFinite;
    }
    List<Batch.Example> evalSet = books.evalSet();
    double evalLoss = training.evalLoss(evalSet);
    double retentionLoss = training.evalLoss(retention);
    metrics.evalLoss(evalLoss);
    metrics.retentionLoss(retentionLoss);
    long version = books.nextVersion();
    Optional<AdapterRelease> current = settings.gate().policy()
        == TrainerSettings.ReleasePolicy.MANUAL ? Optional.empty()
        : clients.releases().current(settings.adapter());
    ReleaseGate.Verdict verdict = judge(current, evalSet, evalLoss, retentionLoss);
    AdapterRelease release = verdict.release() ? Releases.next(current, settings.adapter(),
        version, settings.gate().policy() == TrainerSettings.ReleasePolicy.GATE
            ? ReleaseDecision.GATE_PASSED : ReleaseDecision.UNGATED,
        verdict.summary(), verdict.metrics(), Instant.ofEpochMilli(clock.millis())) : null;
    TrainingState trainingState = books.state(settings.adapter(), training.step(),
        training.optimizerSteps(), settings.seed());
    Map<String, byte[]> files = CheckpointFiles.encode(
        new CheckpointFiles.Content(adapter, training.moments(), trainingState));
    Map<String, Double> manifestMetrics = books.metrics(evalLoss);
    if (Double.isFinite(retentionLoss)) {
      manifestMetrics.put("retention_loss", retentionLoss);
    }
    List<CheckpointRecord> records = CheckpointFiles.records(settings.adapter(), version, files,
        new CheckpointFiles.ManifestFacts(training.step(), books.examplesTrained(),
            books.tokensTrained(), books.boundary(), identity, training.lora(),
            manifestMetrics, Instant.ofEpochMilli(clock.millis())),
        settings.checkpoints().chunkBytes());
    publish(records, release);
    long bytes = files.values().stream().mapToLong(b -> b.length).sum();
    metrics.published(bytes, System.nanoTime() - started);
    metrics.gate(verdict.release(), verdict.reason());
    System.out.printf("checkpoint v%d | step %d | examples %d | tokens %d | eval loss %.4f |"
        + " %d dead letters | %,d bytes%n", version, training.step(), books.examplesTrained(),
        books.tokensTrained(), evalLoss, deadLetters.size(), bytes);
    if (release != null) {
      System.out.printf("released v%d%s: %s%n", version, current.map(c -> " (replaces v"
          + c.getVersion() + ")").orElse(""), verdict.summary());
      metrics.releasedVersion(settings.adapter(), version);
      // The next candidates are gated against this one: its weights are at hand.
      baseline = new Baseline(version, adapter.weights(), retentionLoss, evalLoss);
    } else if (verdict.reason() != ReleaseGate.Reason.MANUAL_POLICY) {
      log.warn("candidate v{} of {} refused ({}): {}; v{} stays released", version,
          settings.adapter(), verdict.reason().tag(), verdict.summary(),
          current.map(AdapterRelease::getVersion).orElse(0L));
    }
    deadLetters.clear();
    books.checkpointed(clock.instant());
    onPublished.accept(new Published(version, training.step(), books.examplesTrained(),
        books.examplesInSkippedSteps(), books.tokensTrained(), evalLoss, books.boundary(),
        books.examplesReplayed(), retentionLoss, release != null, verdict.reason(),
        verdict.summary()));
  }

  /**
   * The release policy's verdict on the candidate whose losses are {@code evalLoss} (on {@code
   * evalSet}) and {@code retentionLoss}: the current release is scored on the same held-out
   * examples now, and its retention loss is kept from when it became the baseline.
   */
  private ReleaseGate.Verdict judge(Optional<AdapterRelease> current,
      List<Batch.Example> evalSet, double evalLoss, double retentionLoss) {
    ReleaseGate.Scores candidate = new ReleaseGate.Scores(evalLoss, retentionLoss);
    if (settings.gate().policy() != TrainerSettings.ReleasePolicy.GATE) {
      return gate.decide(candidate, new ReleaseGate.Scores(Double.NaN, Double.NaN), "");
    }
    Baseline b = baseline(current);
    double baselineEval = b.weights() == null ? b.recordedEvalLoss()
        : training.evalLossWith(b.weights(), evalSet);
    return gate.decide(candidate, new ReleaseGate.Scores(baselineEval, b.retentionLoss()),
        b.version() == 0 ? "base model" : "release v" + b.version());
  }

  /** The baseline for {@code current}: cached while the release does not change. */
  private Baseline baseline(Optional<AdapterRelease> current) {
    long version = current.map(AdapterRelease::getVersion).orElse(0L);
    if (baseline != null && baseline.version() == version) {
      return baseline;
    }
    if (version == 0) {
      Map<String, float[]> base = training.baseWeights();
      baseline = new Baseline(0, base, training.evalLossWith(base, retention), Double.NaN);
      return baseline;
    }
    Optional<Checkpoint> released = clients.checkpoints().version(settings.adapter(), version);
    if (released.isPresent()) {
      Map<String, float[]> weights = CheckpointFiles.decode(released.get(), identity,
          training.lora()).adapter().weights();
      baseline = new Baseline(version, weights, training.evalLossWith(weights, retention),
          Double.NaN);
    } else {
      Map<String, Double> recorded = current.get().getMetrics();
      log.warn("the released checkpoint v{} of {} is not on {} (deleted by retention?); gating"
          + " against the losses its release recorded", version, settings.adapter(),
          settings.kafka().checkpointTopic());
      baseline = new Baseline(version, null, recorded.getOrDefault("retention_loss", Double.NaN),
          recorded.getOrDefault("eval_loss", Double.NaN));
    }
    return baseline;
  }

  /**
   * The dead letters, the checkpoint's records, the release (if this checkpoint is released)
   * and the offsets, in one transaction: a release never points at a checkpoint that is not
   * there.
   */
  private void publish(List<CheckpointRecord> records, AdapterRelease release) {
    Producer<String, Object> producer = clients.producer();
    String topic = settings.kafka().checkpointTopic();
    int partition = CheckpointLocator.partitionFor(settings.adapter(),
        producer.partitionsFor(topic).size());
    producer.beginTransaction();
    for (ProducerRecord<String, Object> dl : deadLetters.records()) {
      producer.send(dl);
    }
    for (CheckpointRecord r : records) {
      producer.send(new ProducerRecord<>(topic, partition, settings.adapter(), r));
    }
    if (release != null) {
      String releases = settings.kafka().releasesTopic();
      producer.send(new ProducerRecord<>(releases, CheckpointLocator.partitionFor(
          settings.adapter(), producer.partitionsFor(releases).size()), settings.adapter(),
          release));
    }
    Map<TopicPartition, OffsetAndMetadata> offsets = new LinkedHashMap<>();
    books.boundary().forEach((tp, offset) -> offsets.put(tp, new OffsetAndMetadata(offset)));
    producer.sendOffsetsToTransaction(offsets,
        new ConsumerGroupMetadata(settings.kafka().groupId()));
    producer.commitTransaction();
  }

  /** Restores the newest checkpoint, if any; returns where to start reading each partition. */
  private Map<TopicPartition, Long> restore(List<TopicPartition> partitions) {
    Consumer<byte[], byte[]> consumer = clients.consumer();
    Optional<Checkpoint> found = clients.checkpoints().newest(settings.adapter());
    Map<TopicPartition, Long> start = new LinkedHashMap<>();
    if (found.isPresent()) {
      Checkpoint c = found.get();
      CheckpointFiles.Content content = CheckpointFiles.decode(c, identity, training.lora());
      TrainingState saved = content.state();
      training.restore(content.adapter(), content.moments(), saved.step(), saved.optimizerSteps());
      books.restore(c.version(), saved);
      c.manifest().getSourceOffsets().forEach(po ->
          start.put(new TopicPartition(po.getTopic(), po.getPartition()), po.getOffset()));
      System.out.printf("resumed from checkpoint v%d: step %d, %d examples trained%n",
          c.version(), training.step(), books.examplesTrained());
    } else {
      Map<TopicPartition, OffsetAndMetadata> committed =
          consumer.committed(new HashSet<>(partitions));
      committed.values().removeIf(java.util.Objects::isNull);
      if (!committed.isEmpty()) {
        throw new IllegalStateException("consumer group " + settings.kafka().groupId()
            + " has committed offsets on " + committed.keySet() + " but the topic "
            + settings.kafka().checkpointTopic() + " has no complete checkpoint of adapter "
            + settings.adapter() + ". Starting a fresh adapter there would silently skip every"
            + " example before those offsets. Restore the checkpoint topic; or, to retrain from"
            + " the start, reset the group: kafka-consumer-groups.sh --reset-offsets"
            + " --to-earliest --execute --group " + settings.kafka().groupId() + " --topic "
            + settings.kafka().examplesTopic() + "; or use a new group.id for a new adapter.");
      }
    }
    Map<TopicPartition, Long> beginnings = consumer.beginningOffsets(partitions);
    Map<TopicPartition, Long> positions = new LinkedHashMap<>();
    for (TopicPartition tp : partitions) {
      long offset = start.getOrDefault(tp, beginnings.get(tp));
      consumer.seek(tp, offset);
      positions.put(tp, offset);
    }
    return positions;
  }

  @Override
  public void close() {
    metrics.close();
    clients.consumer().close(Duration.ofSeconds(5));
    clients.producer().close(Duration.ofSeconds(5));
    for (AutoCloseable r : alsoClose.reversed()) {
      try {
        r.close();
      } catch (Exception e) {
        log.warn("closing {} failed: {}", r, e.toString());
      }
    }
    training.close();
  }
}
