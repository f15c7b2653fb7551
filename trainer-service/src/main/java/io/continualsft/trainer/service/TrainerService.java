package io.continualsft.trainer.service;

import io.continualsft.runtime.metrics.MetricsServer;
import io.continualsft.trainer.checkpoint.CheckpointSource;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.ModelIdentity;
import io.continualsft.trainer.release.ReleaseSource;
import io.continualsft.trainer.train.AdapterTraining;
import io.continualsft.trainer.train.LoraTrainer;
import io.continualsft.trainer.train.Objective;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Deserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The continual trainer: consume examples, take LoRA steps, publish checkpoints, exactly once;
 * one adapter ({@code adapter.id=NAME}) or every adapter of the partitions the consumer group
 * assigns it ({@code adapter.id=*}), on one frozen base model. This class is the poll loop and
 * the service's life; each job it drives has a class of its own:
 *
 * <ul>
 *   <li>{@link GroupMembership}: partitions assigned, revoked and lost;
 *   <li>{@link PartitionOwnership}: where reading goes on, the offsets the group commits;
 *   <li>{@link RecordIntake}: one record, decoded, admitted, dead-lettered or booked;
 *   <li>{@link ResidentAdapters}: which adapters are in memory, restored and evicted;
 *   <li>{@link StepRunner}: one optimizer step, with replay;
 *   <li>{@link CheckpointCutter} and {@link ReleaseJudge}: a checkpoint, and whether it is
 *       released;
 *   <li>{@link TransactionalCommitter}: dead letters, checkpoints, releases and offsets in one
 *       transaction;
 *   <li>{@link ErasureSchedule} and {@link ErasureRewind}: when erasure requests take effect,
 *       and the rewind of the adapters they touch.
 * </ul>
 *
 * <p>Steps are formed per adapter: an adapter's examples, in offset order, until their trained
 * tokens reach {@code step.tokens} (or their number {@code step.examples}, when set), or all
 * that is there when the trainer has caught up with the end of its partitions. Micro-batches are
 * a pure function of those examples. An adapter's checkpoints are cut only between its steps, so
 * the offsets they record are exact. A restarted trainer restores adapter, optimizer moments and
 * step from the newest checkpoint and passes over the adapter's records before its offsets, so
 * it repeats an uninterrupted run bit for bit, across rebalances and crashes.
 *
 * <p>What talks to Kafka comes in through the constructor ({@link Clients}), so the poll and
 * commit logic runs against Kafka's mocks in a unit test; {@link TrainerWiring#create} builds the
 * real ones.
 */
public final class TrainerService implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(TrainerService.class);
  /** Committed offset metadata: dead letters of records before this offset were sent. */
  static final String DEAD_LETTERS_THROUGH = PartitionOwnership.DEAD_LETTERS_THROUGH;
  /** How long records are processed before poll() is called again (a rebalance waits for it). */
  private static final long MAX_BETWEEN_POLLS_NANOS = 10_000_000_000L;

  /**
   * What the service reads and writes through: the examples consumer (subscribed here), a
   * transactional producer, the deserializer of its input records (SftExample, or
   * PreferenceExample from the preference examples topic), where checkpoints and the current
   * release are found, and the examples topic read back by offset for replay (null without).
   */
  public record Clients(Consumer<byte[], byte[]> consumer, Producer<String, Object> producer,
      Deserializer<?> examples, CheckpointSource checkpoints, ReleaseSource releases,
      ExampleLog replay, io.continualsft.trainer.erasure.ErasureFeed erasureRequests) {
    /** Without erasure requests. */
    public Clients(Consumer<byte[], byte[]> consumer, Producer<String, Object> producer,
        Deserializer<?> examples, CheckpointSource checkpoints, ReleaseSource releases,
        ExampleLog replay) {
      this(consumer, producer, examples, checkpoints, releases, replay,
          io.continualsft.trainer.erasure.ErasureFeed.none());
    }

    /** Without releases to read (none yet) and without replay. */
    public Clients(Consumer<byte[], byte[]> consumer, Producer<String, Object> producer,
        Deserializer<?> examples, CheckpointSource checkpoints) {
      this(consumer, producer, examples, checkpoints, ReleaseSource.none(), null,
          io.continualsft.trainer.erasure.ErasureFeed.none());
    }
  }

  private final TrainerSettings settings;
  private final Clients clients;
  private final AdapterTraining training;
  private final TrainerMetrics metrics;
  private final PartitionOwnership ownership;
  private final ResidentAdapters adapters;
  private final TransactionalCommitter committer;
  private final ReleaseJudge judge;
  private final CheckpointCutter cutter;
  private final StepRunner steps;
  private final RecordIntake intake;
  private final GroupMembership membership;
  private final io.continualsft.trainer.erasure.Erasures erasures =
      io.continualsft.trainer.erasure.Erasures.none();
  private final ErasureSchedule erasureSchedule;
  private final List<AutoCloseable> alsoClose = new ArrayList<>();
  private MetricsServer metricsServer;
  private volatile java.util.function.Consumer<Published> onPublished = published -> { };
  private volatile java.util.function.BiConsumer<String, LoraTrainer.StepResult> onStep =
      (adapter, result) -> { };
  private volatile String state = "STARTING";

  public TrainerService(TrainerSettings settings, Clients clients, AdapterTraining training,
      ModelIdentity identity, TrainerMetrics metrics, Clock clock) {
    this(settings, clients, training, identity, metrics, clock, List.of());
  }

  /** {@code retention}: the retention set, labelled (empty: none). */
  public TrainerService(TrainerSettings settings, Clients clients, AdapterTraining training,
      ModelIdentity identity, TrainerMetrics metrics, Clock clock,
      List<Batch.Example> retention) {
    if (settings.replay().fraction() > 0 && clients.replay() == null) {
      throw new IllegalArgumentException("replay.fraction is " + settings.replay().fraction()
          + " but no examples log to replay from was given");
    }
    this.settings = settings;
    this.clients = clients;
    this.training = training;
    this.metrics = metrics;
    List<Batch.Example> retained = List.copyOf(retention);
    ProgressReport progress = new ProgressReport(clock.instant());
    java.util.function.Function<Predicate<String>, ExampleAdmission> admission = trains ->
        new ExampleAdmission(trains, settings.adapters().allowed(),
            identity.tokenizerFingerprint(), training.vocabSize(),
            settings.steps().maxLength(), settings.eval().fraction(), erasures,
            settings::objectiveOf);
    this.ownership = new PartitionOwnership(clients.consumer());
    this.adapters = new ResidentAdapters(settings, training, clients.checkpoints(), identity,
        metrics, clock, adapter -> new ReplayDraw(settings.replay(), settings.seed(),
            clients.replay(), clients.examples(), admission.apply(adapter::equals),
            // The retention set is conversations, not rated turns: a KTO adapter's retention
            // share of replay is left empty.
            ResidentAdapters.objectiveOf(settings, adapter) == Objective.SFT ? retained
                : List.of()),
        this::checkpointBeforeEviction, progress, erasures);
    this.committer = new TransactionalCommitter(clients.producer(), clients.consumer(),
        settings.kafka().checkpointTopic(), settings.kafka().releasesTopic(),
        settings.kafka().deadLetterTopic(), settings.kafka().transactionalId(), ownership,
        adapters);
    this.judge = new ReleaseJudge(settings, clients.releases(), clients.checkpoints(), training,
        identity, retained);
    this.cutter = new CheckpointCutter(settings, training, identity, metrics, clock, retained,
        adapters, judge, committer, published -> onPublished.accept(published), progress);
    StepRunner steps = new StepRunner(settings, training, metrics, clock, adapters, ownership,
        cutter, progress, (adapter, result) -> onStep.accept(adapter, result));
    this.intake = new RecordIntake(clients.examples(), admission.apply(settings::trains),
        ownership, adapters, committer, steps, metrics, clock, settings.everyAdapter()
            ? settings.adapters().maxKnown() : Integer.MAX_VALUE);
    this.membership = new GroupMembership(settings, clients.consumer(), ownership, adapters,
        committer, cutter, progress, () -> state.equals("FAILED"));
    this.steps = steps;
    this.erasureSchedule = new ErasureSchedule(clients.erasureRequests(), erasures,
        new ErasureRewind(settings, erasures, adapters, clients.checkpoints(), training,
            identity, cutter, committer, clients.consumer(), metrics, clock, clients.releases(),
            ownership), metrics, clock, settings.erasure().batchWindowSeconds(),
        settings.erasure().topic());
  }

  /** An adapter evicted from memory after training is checkpointed first. */
  private void checkpointBeforeEviction(AdapterSlot slot) {
    cutter.cut(slot);
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

  /** Runs until {@code stop} says so; then publishes what has been trained since the last checkpoint. */
  public void run(BooleanSupplier stop) {
    try {
      // libtorch records graphs on any thread that has not switched grad mode off; only the
      // trainer's GradientCollector should.
      ai.djl.pytorch.jni.JniUtils.setGradMode(false);
      committer.initTransactions(stop, settings.kafka().transactionalId(),
          settings.kafka().bootstrapServers());
      if (!settings.everyAdapter()) {
        // Fails now, naming the releases topic, when it is missing: not at the first checkpoint.
        java.util.Optional<io.continualsft.avro.AdapterRelease> current =
            judge.current(settings.adapter());
        metrics.releasedVersion(settings.adapter(),
            current.map(io.continualsft.avro.AdapterRelease::getVersion).orElse(0L));
        metrics.releaseHeld(settings.adapter(),
            current.map(r -> r.getHold() != null).orElse(false));
      }
      erasureSchedule.readAtStart();
      membership.join();
      state = "RUNNING";
      while (!stop.getAsBoolean()) {
        pollOnce();
      }
      for (AdapterSlot slot : adapters.all()) {
        slot.books.settle();
        if (slot.books.dirty()) {
          cutter.cut(slot); // clean shutdown: publish the last boundary of each adapter
        }
      }
      if (committer.pendingDeadLetters() > 0) {
        committer.commitOffsets();
      }
      state = "STOPPED";
    } catch (RuntimeException e) {
      state = "FAILED";
      throw e;
    }
  }

  private void pollOnce() {
    try {
      if (erasureSchedule.rewindWhenDue()) {
        membership.startOver("an erasure rewound adapters");
        return;
      }
    } catch (TransactionalCommitter.GroupMovedOn moved) {
      membership.startOver(moved);
      return;
    }
    Consumer<byte[], byte[]> consumer = clients.consumer();
    ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
    long polled = System.nanoTime();
    if (membership.movedOn() != null) {
      membership.startOver(membership.movedOn()); // also seeks back the records just polled
      return;
    }
    try {
      for (ConsumerRecord<byte[], byte[]> r : records) {
        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
        if (!ownership.isNext(tp, r.offset())) {
          continue; // revoked while this batch was processed, or before a seek back
        }
        ownership.processed(tp, r.offset());
        intake.accept(tp, r);
        if (System.nanoTime() - polled > MAX_BETWEEN_POLLS_NANOS) {
          // Back to poll(): a rebalance waits for every member to call it. The rest of the
          // batch is fetched again from where processing stopped.
          ownership.seekToNext();
          break;
        }
      }
      if (records.isEmpty() && ownership.caughtUp()) {
        metrics.lag(0);
        caughtUpWithEverything();
      }
    } catch (TransactionalCommitter.GroupMovedOn moved) {
      membership.startOver(moved);
    }
  }

  /**
   * Everything assigned is read: train what each adapter has (rather than wait), move every
   * boundary past the transaction markers (so the group's lag reads 0, not 1, when all is
   * trained), checkpoint each adapter with something new, and commit offsets and dead letters
   * when no checkpoint did.
   */
  private void caughtUpWithEverything() {
    for (AdapterSlot slot : adapters.all()) {
      if (slot.books.readyToStep()) {
        steps.step(slot);
      }
    }
    ownership.moveToConsumerPositions();
    boolean committed = false;
    for (AdapterSlot slot : adapters.all()) {
      if (!settings.everyAdapter()) {
        // The one adapter's checkpoint records the end of every partition, past other records
        // and transaction markers, as a reader of its manifest expects when all is trained.
        ownership.positions().forEach(slot.books::readUpTo);
      }
      boolean moved = slot.books.settle();
      // With many adapters a boundary that only moved is not worth a version: the group's
      // offsets (committed below) move past the others' records instead.
      if (settings.everyAdapter() ? slot.books.dirty() : moved) {
        cutter.cut(slot);
        committed = true;
      }
    }
    if (!committed && committer.offsetsMoved()) {
      committer.commitOffsets();
    }
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

  /** Called on the trainer's thread after each step, with its adapter (a run's report). */
  public void onStep(java.util.function.BiConsumer<String, LoraTrainer.StepResult> listener) {
    this.onStep = listener;
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
