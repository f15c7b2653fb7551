package io.continualsft.trainer.service;

import io.continualsft.avro.CheckpointRecord;
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
   * a transactional producer, the examples' deserializer and where checkpoints are found.
   */
  public record Clients(Consumer<byte[], byte[]> consumer, Producer<String, Object> producer,
      Deserializer<SftExample> examples, CheckpointSource checkpoints) {}

  /** What a committed checkpoint recorded: for a caller that watches the service run. */
  public record Published(long version, long step, long examplesTrained,
      long examplesInSkippedSteps, long tokensTrained, double evalLoss,
      Map<TopicPartition, Long> offsets) {}

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
  private final List<AutoCloseable> alsoClose = new ArrayList<>();
  private MetricsServer metricsServer;
  private volatile java.util.function.Consumer<Published> onPublished = published -> { };
  private volatile String state = "STARTING";

  public TrainerService(TrainerSettings settings, Clients clients, AdapterTraining training,
      ModelIdentity identity, TrainerMetrics metrics, Clock clock) {
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
    LoraTrainer.StepResult result = training.step(window);
    long nanos = System.nanoTime() - started;
    books.stepped(result);
    metrics.stepped(result, window.size(), nanos, books.lastLoss(), books.lastGradNorm());
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
    double evalLoss = training.evalLoss(books.evalSet());
    metrics.evalLoss(evalLoss);
    long version = books.nextVersion();
    TrainingState trainingState = books.state(settings.adapter(), training.step(),
        training.optimizerSteps(), settings.seed());
    Map<String, byte[]> files = CheckpointFiles.encode(
        new CheckpointFiles.Content(adapter, training.moments(), trainingState));
    List<CheckpointRecord> records = CheckpointFiles.records(settings.adapter(), version, files,
        new CheckpointFiles.ManifestFacts(training.step(), books.examplesTrained(),
            books.tokensTrained(), books.boundary(), identity, training.lora(),
            books.metrics(evalLoss), Instant.ofEpochMilli(clock.millis())),
        settings.checkpoints().chunkBytes());
    publish(records);
    long bytes = files.values().stream().mapToLong(b -> b.length).sum();
    metrics.published(bytes, System.nanoTime() - started);
    System.out.printf("checkpoint v%d | step %d | examples %d | tokens %d | eval loss %.4f |"
        + " %d dead letters | %,d bytes%n", version, training.step(), books.examplesTrained(),
        books.tokensTrained(), evalLoss, deadLetters.size(), bytes);
    deadLetters.clear();
    books.checkpointed(clock.instant());
    onPublished.accept(new Published(version, training.step(), books.examplesTrained(),
        books.examplesInSkippedSteps(), books.tokensTrained(), evalLoss, books.boundary()));
  }

  /** The dead letters, the checkpoint's records and the offsets, in one transaction. */
  private void publish(List<CheckpointRecord> records) {
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
