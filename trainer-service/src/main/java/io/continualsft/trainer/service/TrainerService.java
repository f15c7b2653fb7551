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
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
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
/**
 * The continual trainer: consume examples, take LoRA steps, publish checkpoints, exactly once;
 * one adapter ({@code adapter.id=NAME}) or every adapter of the partitions the consumer group
 * assigns it ({@code adapter.id=*}), on one frozen base model.
 *
 * <p>Steps are formed per adapter: an adapter's examples, in offset order, until their trained
 * tokens reach {@code step.tokens} (or their number {@code step.examples}, when set), or all
 * that is there when the trainer has caught up with the end of its partitions. Micro-batches are
 * a pure function of those examples. An adapter's checkpoints are cut only between its steps, so
 * the offsets they record are exact: every record of the adapter before them is in its history
 * (trained, held out) and none after. An adapter lives in one partition (the streams app
 * partitions by adapter), so a partition's owner owns its adapters.
 *
 * <p>The group's committed offset of a partition is a low-water mark: the smallest offset a
 * trainer taking over must read from so that every record not yet in some adapter's published
 * history is read again; its metadata holds how far dead letters were sent. A trainer taking
 * over restores each adapter from its newest checkpoint when its first record arrives and passes
 * over the adapter's records below that checkpoint's offsets, so every example is trained
 * exactly once into its adapter's published history, across rebalances and crashes. Dead
 * letters, checkpoints, releases and offsets commit in one transaction, fenced by the group's
 * generation.
 *
 * <p>At most {@code adapters.max-resident} adapters keep their weights and moments in memory;
 * the least recently trained one past that is checkpointed (if it trained since its last
 * checkpoint) and evicted, and restored from its checkpoint for its next step. Only its small
 * accounting (the step being formed, the held-out examples) stays.
 *
 * <p>What talks to Kafka comes in through the constructor ({@link Clients}), so the poll and
 * commit logic runs against Kafka's mocks in a unit test; {@link TrainerWiring#create} builds the
 * real ones.
 */
public final class TrainerService implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(TrainerService.class);
  /** Committed offset metadata: dead letters of records before this offset were sent. */
  static final String DEAD_LETTERS_THROUGH = "dead-letters-through=";

  /**
   * What the service reads and writes through: the examples consumer (subscribed here), a
   * transactional producer, the examples' deserializer, where checkpoints and the current
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
  public record Published(String adapter, long version, long step, long examplesTrained,
      long examplesInSkippedSteps, long tokensTrained, double evalLoss,
      Map<TopicPartition, Long> offsets, long examplesReplayed, double retentionLoss,
      boolean released, ReleaseGate.Reason reason, String gate) {}

  /**
   * What the gate compares a candidate with: the current release's adapter (or the base model,
   * version 0, before the first release) and its retention loss. {@code weights} is null when
   * the release's checkpoint is no longer on the topic; its recorded metrics stand in then.
   */
  record Baseline(long version, Map<String, float[]> weights, double retentionLoss,
      double recordedEvalLoss) {}

  private final TrainerSettings settings;
  private final Clients clients;
  private final AdapterTraining training;
  private final ModelIdentity identity;
  private final TrainerMetrics metrics;
  private final Clock clock;
  private final ExampleAdmission admission;
  private final PendingDeadLetters deadLetters;
  private final ProgressLine progress;
  private final ReleaseGate gate;
  private final List<Batch.Example> retention;
  private final List<AutoCloseable> alsoClose = new ArrayList<>();
  private MetricsServer metricsServer;
  private volatile java.util.function.Consumer<Published> onPublished = published -> { };
  private volatile String state = "STARTING";

  // The assigned partitions: the next offset to process, and how far dead letters were sent.
  private final Map<TopicPartition, Long> next = new TreeMap<>(PARTITION_ORDER);
  private final Map<TopicPartition, Long> deadLettersThrough = new HashMap<>();
  // Every adapter of the assigned partitions seen since they were assigned, by name.
  private final Map<String, AdapterSlot> slots = new TreeMap<>();
  private AdapterSlot inModel; // whose weights the model holds now
  private long useCounter;
  private long examplesTrained; // this process's, for the progress line

  private static final java.util.Comparator<TopicPartition> PARTITION_ORDER =
      java.util.Comparator.comparing(TopicPartition::topic).thenComparingInt(
          TopicPartition::partition);

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
    this.admission = admission(settings::trains);
    this.deadLetters = new PendingDeadLetters(settings.kafka().deadLetterTopic(),
        settings.kafka().transactionalId());
    this.progress = new ProgressLine(clock.instant());
    this.gate = new ReleaseGate(settings.gate());
    this.retention = List.copyOf(retention);
    if (settings.replay().fraction() > 0 && clients.replay() == null) {
      throw new IllegalArgumentException("replay.fraction is " + settings.replay().fraction()
          + " but no examples log to replay from was given");
    }
  }

  private ExampleAdmission admission(java.util.function.Predicate<String> trains) {
    return new ExampleAdmission(trains, identity.tokenizerFingerprint(), training.vocabSize(),
        settings.steps().maxLength(), settings.eval().fraction());
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
    if (!settings.everyAdapter()) {
      // Fails now, naming the releases topic, when it is missing: not at the first checkpoint.
      metrics.releasedVersion(settings.adapter(), clients.releases().current(settings.adapter())
          .map(AdapterRelease::getVersion).orElse(0L));
    }
    Rebalance rebalance = new Rebalance();
    if (settings.everyAdapter()) {
      consumer.subscribe(List.of(settings.kafka().examplesTopic()), rebalance);
    } else {
      // One named adapter reads every partition: no group membership to wait for on a
      // restart; a second trainer of the adapter is fenced by the shared transactional id.
      List<TopicPartition> partitions = consumer.partitionsFor(settings.kafka().examplesTopic())
          .stream().map(p -> new TopicPartition(p.topic(), p.partition())).toList();
      consumer.assign(partitions);
      rebalance.onPartitionsAssigned(partitions);
    }
    state = "RUNNING";
    try {
      while (!stop.getAsBoolean()) {
        ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
        long polled = System.nanoTime();
        if (startOver != null) {
          startOverFromCommitted(startOver); // also seeks back the records just polled
          startOver = null;
          continue;
        }
        try {
          for (ConsumerRecord<byte[], byte[]> r : records) {
            TopicPartition tp = new TopicPartition(r.topic(), r.partition());
            if (!next.containsKey(tp) || r.offset() < next.get(tp)) {
              continue; // revoked while this batch was processed, or before a seek back
            }
            next.put(tp, r.offset() + 1);
            accept(tp, r);
            if (System.nanoTime() - polled > MAX_BETWEEN_POLLS_NANOS) {
              // Back to poll(): a rebalance waits for every member to call it. The rest of
              // the batch is fetched again from where processing stopped.
              next.forEach(consumer::seek);
              break;
            }
          }
          if (records.isEmpty() && caughtUp()) {
            metrics.lag(0);
            caughtUpWithEverything();
          }
        } catch (GroupMovedOn moved) {
          startOverFromCommitted(moved);
        }
      }
      for (AdapterSlot slot : List.copyOf(slots.values())) {
        slot.books.settle();
        if (slot.books.dirty()) {
          checkpoint(slot); // clean shutdown: publish the last boundary of each adapter
        }
      }
      if (deadLetters.size() > 0) {
        commitOffsets();
      }
      state = "STOPPED";
    } catch (RuntimeException e) {
      state = "FAILED";
      throw e;
    }
  }

  /**
   * Everything assigned is read: train what each adapter has (rather than wait), move every
   * boundary past the transaction markers (so the group's lag reads 0, not 1, when all is
   * trained), checkpoint each adapter with something new, and commit offsets and dead letters
   * when no checkpoint did.
   */
  private void caughtUpWithEverything() {
    for (AdapterSlot slot : List.copyOf(slots.values())) {
      if (slot.books.hasPendingExamples()) {
        step(slot);
      }
    }
    Consumer<byte[], byte[]> consumer = clients.consumer();
    for (TopicPartition tp : next.keySet()) {
      next.put(tp, consumer.position(tp));
    }
    boolean committed = false;
    for (AdapterSlot slot : List.copyOf(slots.values())) {
      if (!settings.everyAdapter()) {
        // The one adapter's checkpoint records the end of every partition, past other records
        // and transaction markers, as a reader of its manifest expects when all is trained.
        next.forEach(slot.books::readUpTo);
      }
      boolean moved = slot.books.settle();
      // With many adapters a boundary that only moved is not worth a version: the group's
      // offsets (committed below) move past the others' records instead.
      if (settings.everyAdapter() ? slot.books.dirty() : moved) {
        checkpoint(slot);
        committed = true;
      }
    }
    if (!committed && offsetsMoved()) {
      commitOffsets();
    }
  }

  private Map<TopicPartition, OffsetAndMetadata> lastCommitted = Map.of();
  private GroupMovedOn startOver; // set in a rebalance callback, handled after poll() returns

  private boolean offsetsMoved() {
    return deadLetters.size() > 0 || !lowWaterMarks().equals(lastCommitted);
  }

  /** How long records are processed before poll() is called again (a rebalance waits for it). */
  private static final long MAX_BETWEEN_POLLS_NANOS = 10_000_000_000L;

  /**
   * The group's generation moved on while this trainer was busy (a rebalance it joined too late,
   * or a session that expired): its transaction could not commit the offsets and was aborted.
   * Kafka Streams calls this a task migration.
   */
  static final class GroupMovedOn extends RuntimeException {
    GroupMovedOn(Throwable cause) {
      super(cause.getMessage(), cause);
    }

    static boolean causedBy(Throwable e) {
      for (Throwable t = e; t != null; t = t.getCause()) {
        if (t instanceof org.apache.kafka.clients.consumer.CommitFailedException
            || t instanceof org.apache.kafka.common.errors.RebalanceInProgressException
            || t instanceof org.apache.kafka.common.errors.IllegalGenerationException
            || t instanceof org.apache.kafka.common.errors.UnknownMemberIdException) {
          return true;
        }
      }
      return false;
    }
  }

  /**
   * After {@link GroupMovedOn}: everything not committed is dropped (the adapters, their steps
   * being formed, the dead letters) and the partitions still assigned are read again from the
   * group's committed offsets, whoever committed them. Nothing is lost or trained twice: what
   * was dropped was never part of a published history.
   */
  private void startOverFromCommitted(GroupMovedOn moved) {
    log.warn("the consumer group moved on while this trainer was busy ({}); dropping what it"
        + " had not committed ({} adapters) and reading again from the committed offsets",
        moved.getMessage(), slots.size());
    deadLetters.clear();
    drop(List.copyOf(next.keySet()), List.copyOf(slots.values()));
    lastCommitted = Map.of();
    Collection<TopicPartition> assigned = clients.consumer().assignment();
    if (!assigned.isEmpty()) {
      new Rebalance().onPartitionsAssigned(assigned);
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

  private boolean caughtUp() {
    if (next.isEmpty()) {
      return false;
    }
    try {
      Map<TopicPartition, Long> end = clients.consumer().endOffsets(next.keySet());
      for (TopicPartition tp : next.keySet()) {
        if (clients.consumer().position(tp) < end.get(tp)) {
          return false;
        }
      }
      return true;
    } catch (org.apache.kafka.common.errors.TimeoutException e) {
      // A partition just taken over whose committed offset an open transaction still holds
      // (its previous owner was killed mid-checkpoint): not caught up, poll on.
      return false;
    }
  }

  // --- partitions come and go ----------------------------------------------------------------

  /**
   * The group's assignment: a partition given up is checkpointed first (every adapter of it
   * that trained since its last checkpoint; a step being formed is abandoned, its examples
   * read again by the next owner) in transactions that commit its offsets; a partition lost
   * (this trainer was too slow, or fenced) is dropped without committing anything.
   */
  private final class Rebalance implements ConsumerRebalanceListener {
    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
      if (partitions.isEmpty()) {
        return;
      }
      Consumer<byte[], byte[]> consumer = clients.consumer();
      Map<TopicPartition, OffsetAndMetadata> committed = committed(partitions);
      Map<TopicPartition, Long> beginnings = consumer.beginningOffsets(partitions);
      for (TopicPartition tp : partitions) {
        OffsetAndMetadata c = committed.get(tp);
        long start = c == null ? beginnings.get(tp) : c.offset();
        next.put(tp, start);
        deadLettersThrough.put(tp, c == null ? start : deadLettersThrough(c, start));
        consumer.seek(tp, start);
      }
      System.out.printf("assigned %s (from offsets %s)%n", partitions, partitions.stream()
          .map(next::get).toList());
      if (!settings.everyAdapter()) {
        // Restored now, as a trainer of one adapter always has: its checkpoint is checked at
        // start, not at its first example.
        boolean known = slots.containsKey(settings.adapter());
        AdapterSlot slot = slot(settings.adapter());
        if (!known && slot.books.version() == 0) {
          checkFreshAdapterHasNoOffsets(committed, beginnings);
        }
      }
    }

    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
      if (partitions.isEmpty() || state.equals("FAILED")) {
        return;
      }
      List<AdapterSlot> leaving = slotsOf(partitions);
      int checkpointed = 0;
      try {
        for (AdapterSlot slot : leaving) {
          slot.books.settle();
          if (slot.books.dirty()) {
            checkpoint(slot);
            checkpointed++;
          }
        }
        if (offsetsMoved()) {
          commitOffsets();
        }
      } catch (GroupMovedOn moved) {
        // Too late to hand over cleanly: the next owner reads from the last committed offsets,
        // and so does this trainer for the partitions it keeps, once poll() returns.
        startOver = moved;
      }
      drop(partitions, leaving);
      System.out.printf("revoked %s: %d adapters handed over, %d of them checkpointed first%n",
          partitions, leaving.size(), checkpointed);
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> partitions) {
      List<AdapterSlot> leaving = slotsOf(partitions);
      deadLetters.forget(partitions);
      drop(partitions, leaving);
      log.warn("lost {} without committing: {} adapters dropped; their new owner resumes them"
          + " from their checkpoints", partitions, leaving.size());
    }
  }

  /**
   * The group's committed offsets. A read_committed consumer waits for offsets that an open
   * transaction is committing; a trainer killed mid-transaction leaves one open until its
   * transaction.timeout.ms passes, which may be longer than one call's timeout: wait it out.
   */
  private Map<TopicPartition, OffsetAndMetadata> committed(Collection<TopicPartition> partitions) {
    for (int attempt = 1; ; attempt++) {
      try {
        return clients.consumer().committed(new HashSet<>(partitions));
      } catch (org.apache.kafka.common.errors.TimeoutException e) {
        if (attempt == 10) {
          throw e;
        }
        log.warn("the committed offsets of {} are not stable yet (a transaction of a trainer"
            + " that stopped is still open?); waiting (attempt {})", partitions, attempt);
      }
    }
  }

  private List<AdapterSlot> slotsOf(Collection<TopicPartition> partitions) {
    return slots.values().stream()
        .filter(s -> s.firstRead.keySet().stream().anyMatch(partitions::contains)
            || s.books.partitions().stream().anyMatch(partitions::contains))
        .toList();
  }

  private void drop(Collection<TopicPartition> partitions, List<AdapterSlot> leaving) {
    for (AdapterSlot slot : leaving) {
      slots.remove(slot.name);
      if (inModel == slot) {
        inModel = null;
      }
      metrics.adapterGone(slot.name);
    }
    partitions.forEach(tp -> {
      next.remove(tp);
      deadLettersThrough.remove(tp);
    });
    metrics.adapters(residentCount(), slots.size());
  }

  private static long deadLettersThrough(OffsetAndMetadata committed, long fallback) {
    String m = committed.metadata();
    if (m != null && m.startsWith(DEAD_LETTERS_THROUGH)) {
      try {
        return Long.parseLong(m.substring(DEAD_LETTERS_THROUGH.length()));
      } catch (NumberFormatException e) {
        log.warn("committed offset metadata \"{}\" is not this trainer's; dead letters from {}",
            m, fallback);
      }
    }
    return fallback;
  }

  /**
   * A named adapter with no checkpoint, in a group that committed offsets, would silently skip
   * every example before them.
   */
  private void checkFreshAdapterHasNoOffsets(Map<TopicPartition, OffsetAndMetadata> committed,
      Map<TopicPartition, Long> beginnings) {
    Map<TopicPartition, OffsetAndMetadata> some = new LinkedHashMap<>(committed);
    // An offset at the partition's beginning skips nothing (a trainer that caught up with an
    // empty topic commits one).
    some.entrySet().removeIf(e -> e.getValue() == null
        || e.getValue().offset() <= beginnings.getOrDefault(e.getKey(), 0L));
    if (some.isEmpty()) {
      return;
    }
    state = "FAILED";
    throw new IllegalStateException("consumer group " + settings.kafka().groupId()
        + " has committed offsets on " + some.keySet() + " but the topic "
        + settings.kafka().checkpointTopic() + " has no complete checkpoint of adapter "
        + settings.adapter() + ". Starting a fresh adapter there would silently skip every"
        + " example before those offsets. Restore the checkpoint topic; or, to retrain from"
        + " the start, reset the group: kafka-consumer-groups.sh --reset-offsets"
        + " --to-earliest --execute --group " + settings.kafka().groupId() + " --topic "
        + settings.kafka().examplesTopic() + "; or use a new group.id for a new adapter.");
  }

  // --- one record ----------------------------------------------------------------------------

  private void accept(TopicPartition tp, ConsumerRecord<byte[], byte[]> r) {
    SftExample example;
    try {
      example = clients.examples().deserialize(r.topic(), r.value());
    } catch (BadRecordException e) {
      deadLetter(tp, r, e.reason(), e.getMessage());
      return;
    }
    if (example == null) {
      deadLetter(tp, r, RejectionReason.CORRUPT_AVRO, "the record has no value (a tombstone)");
      return;
    }
    if (!settings.trains(example.getAdapter())) {
      metrics.skipped(TrainerMetrics.Skip.OTHER_ADAPTER);
      return;
    }
    ExampleAdmission.Decision decision = admission.admit(example);
    if (decision instanceof ExampleAdmission.Rejected rejected) {
      // Before the adapter is looked at: a rejected record never costs a restore.
      if (!rejectedBefore(tp, r)) {
        deadLetter(tp, r, rejected.reason(), rejected.detail());
      }
      return;
    }
    AdapterSlot slot = slot(example.getAdapter());
    if (slot.inHistory(tp, r.offset())) {
      metrics.skipped(TrainerMetrics.Skip.IN_HISTORY);
      return;
    }
    slot.firstRead.putIfAbsent(tp, r.offset());
    slot.books.read(tp, r.offset());
    switch (decision) {
      case ExampleAdmission.Train t -> slot.books.admit(t.example(), t.trainedTokens());
      case ExampleAdmission.HeldOut h -> {
        metrics.skipped(TrainerMetrics.Skip.HELD_OUT);
        slot.books.holdOut(h.example());
      }
      default -> throw new IllegalStateException("unexpected " + decision);
    }
    if (slot.books.stepFull()) {
      step(slot);
    }
  }

  /** A dead letter already sent for this record (before a restart or a rebalance). */
  private boolean rejectedBefore(TopicPartition tp, ConsumerRecord<byte[], byte[]> r) {
    return r.offset() < deadLettersThrough.getOrDefault(tp, Long.MIN_VALUE);
  }

  private void deadLetter(TopicPartition tp, ConsumerRecord<byte[], byte[]> r,
      RejectionReason reason, String detail) {
    if (rejectedBefore(tp, r)) {
      return;
    }
    metrics.deadLetter(reason);
    deadLetters.add(r, reason, detail, Instant.ofEpochMilli(clock.millis()));
    if (deadLetters.full()) {
      // Sent only in a transaction with the offsets past them (exactly once), so a burst of
      // bad records brings that transaction forward; no step is cut for it.
      commitOffsets();
    }
  }

  // --- adapters in and out of memory ---------------------------------------------------------

  /** The slot of {@code adapter}, created (not yet resident) on its first record. */
  private AdapterSlot slot(String adapter) {
    AdapterSlot slot = slots.get(adapter);
    if (slot != null) {
      return slot;
    }
    slot = new AdapterSlot(adapter, settings.loraFor(adapter), new StepBookkeeping(
        settings.steps().stepTokens(), settings.steps().stepExamples(),
        settings.eval().maxExamples(), clock.instant()),
        new ReplayDraw(settings.replay(), settings.seed(), clients.replay(), clients.examples(),
            admission(adapter::equals), retention));
    slots.put(adapter, slot);
    Optional<Checkpoint> found = clients.checkpoints().newest(adapter);
    Map<TopicPartition, Long> start = new LinkedHashMap<>();
    if (found.isPresent()) {
      Checkpoint c = found.get();
      CheckpointFiles.Content content = CheckpointFiles.decode(c, identity, slot.lora);
      slot.books.restore(c.version(), content.state());
      c.manifest().getSourceOffsets().forEach(po ->
          start.put(new TopicPartition(po.getTopic(), po.getPartition()), po.getOffset()));
      bringIn(slot, snapshotOf(slot, content));
      System.out.printf("%sresumed from checkpoint v%d: step %d, %d examples trained%n",
          prefix(slot), c.version(), content.state().step(), slot.books.examplesTrained());
    }
    slot.inHistoryBelow.putAll(start);
    slot.committedBoundary.putAll(start);
    if (!settings.everyAdapter()) {
      // The one adapter accounts for every partition from where reading starts, as its
      // checkpoints' offsets always have: a boundary that has not moved is no new version.
      next.forEach(start::putIfAbsent);
    }
    slot.books.start(start);
    metrics.adapters(residentCount(), slots.size());
    return slot;
  }

  private static AdapterTraining.Snapshot snapshotOf(AdapterSlot slot,
      CheckpointFiles.Content content) {
    return new AdapterTraining.Snapshot(slot.lora, content.adapter().weights(),
        content.moments(), content.state().step(), content.state().optimizerSteps());
  }

  /** Puts {@code slot}'s adapter into the model: from memory, its checkpoint, or fresh. */
  private void activate(AdapterSlot slot) {
    slot.lastUsed = ++useCounter;
    if (inModel == slot) {
      return;
    }
    if (slot.resident) {
      park();
      training.load(slot.parked);
      slot.parked = null;
      inModel = slot;
      return;
    }
    makeRoomFor(slot); // first: an eviction's checkpoint is not part of the restore's time
    long started = System.nanoTime();
    AdapterTraining.Snapshot snapshot;
    long version = slot.books.version();
    long found = started;
    if (version == 0) {
      snapshot = null; // never checkpointed: it starts fresh (again)
    } else {
      CheckpointSource.Written where = slot.written;
      Checkpoint c = (where != null ? clients.checkpoints().written(slot.name, version, where)
          : clients.checkpoints().version(slot.name, version)).orElseThrow(() ->
          new IllegalStateException("checkpoint v" + version + " of adapter " + slot.name
              + " that this trainer committed is not on " + settings.kafka().checkpointTopic()
              + " (deleted by retention, or the topic was recreated?)"));
      found = System.nanoTime();
      snapshot = snapshotOf(slot, CheckpointFiles.decode(c, identity, slot.lora));
    }
    bringIn(slot, snapshot);
    if (version > 0) {
      long done = System.nanoTime();
      metrics.restored(done - started);
      log.info("adapter {} restored from checkpoint v{} in {} ms ({} ms finding it)", slot.name,
          version, (done - started) / 1_000_000, (found - started) / 1_000_000);
    }
  }

  /** Makes room, then loads {@code snapshot} (null: a fresh adapter) as {@code slot}'s. */
  private void bringIn(AdapterSlot slot, AdapterTraining.Snapshot snapshot) {
    makeRoomFor(slot);
    park();
    if (snapshot == null) {
      training.fresh(slot.lora, settings.seed());
    } else {
      training.load(snapshot);
    }
    slot.resident = true;
    slot.lastUsed = ++useCounter;
    inModel = slot;
    metrics.adapterResident(slot);
    metrics.adapters(residentCount(), slots.size());
  }

  /** Evicts the least recently trained adapters until {@code slot} fits. */
  private void makeRoomFor(AdapterSlot slot) {
    while (residentCount() >= settings.adapters().maxResident()) {
      evict(slots.values().stream().filter(s -> s.resident && s != slot)
          .min(java.util.Comparator.comparingLong(s -> s.lastUsed)).orElseThrow());
    }
  }

  /** The adapter in the model goes back to memory beside it. */
  private void park() {
    if (inModel != null) {
      inModel.parked = training.snapshot();
      inModel = null;
    }
  }

  /** Checkpoints {@code slot} if it trained since its last checkpoint, and frees its memory. */
  private void evict(AdapterSlot slot) {
    if (slot.books.stepsSinceCheckpoint() > 0) {
      checkpoint(slot);
    }
    if (inModel == slot) {
      inModel = null;
    }
    slot.resident = false;
    slot.parked = null;
    slot.baseline = null;
    metrics.evicted(slot.name);
    log.info("adapter {} evicted at checkpoint v{} ({} resident at most)", slot.name,
        slot.books.version(), settings.adapters().maxResident());
    metrics.adapters(residentCount(), slots.size());
  }

  private int residentCount() {
    return (int) slots.values().stream().filter(s -> s.resident).count();
  }

  /** Adapter names on progress lines, when this trainer trains more than one. */
  private String prefix(AdapterSlot slot) {
    return settings.everyAdapter() ? "[" + slot.name + "] " : "";
  }

  // --- steps ---------------------------------------------------------------------------------

  private void step(AdapterSlot slot) {
    activate(slot);
    long started = System.nanoTime();
    StepBookkeeping books = slot.books;
    List<Batch.Example> window = books.window();
    ReplayDraw.Drawn replayed = slot.replay.draw(training.step() + 1, window.size(),
        books.trainedThrough());
    List<Batch.Example> examples = window;
    if (!replayed.examples().isEmpty()) {
      examples = new ArrayList<>(window);
      examples.addAll(replayed.examples());
    }
    LoraTrainer.StepResult result = training.step(examples);
    long nanos = System.nanoTime() - started;
    books.stepped(result, replayed.examples().size(), replayed.trainedTokens());
    examplesTrained += result.applied() ? window.size() : 0;
    metrics.stepped(result, window.size(), replayed.examples().size(),
        replayed.trainedTokens(), nanos, books.lastLoss(), books.lastGradNorm());
    if (!result.applied()) {
      log.warn("{}step {} skipped: loss {} gradient norm {} (not finite; non-finite gradients"
          + " in {})", prefix(slot), result.step(), result.loss(), result.gradNorm(),
          result.nonFiniteGradients());
    }
    progress.add(result.trainedTokens());
    if (result.step() % settings.observability().progressEverySteps() == 0) {
      long lag = lag();
      metrics.lag(lag);
      metrics.tokensPerSecond(progress.print(prefix(slot) + "step", result,
          settings.everyAdapter() ? examplesTrained : books.examplesTrained(), lag,
          clock.instant()));
      log.debug("step {}: loss {} grad norm {} (full precision)", result.step(), result.loss(),
          result.gradNorm());
    }
    if (books.checkpointDue(settings.checkpoints().everySteps(),
        settings.checkpoints().everySeconds(), clock.instant())) {
      checkpoint(slot);
    }
  }

  /** Records between the trainer's position and the end of its input. */
  private long lag() {
    Consumer<byte[], byte[]> consumer = clients.consumer();
    long lag = 0;
    Map<TopicPartition, Long> end = consumer.endOffsets(next.keySet());
    for (TopicPartition tp : next.keySet()) {
      lag += Math.max(0, end.get(tp) - next.get(tp));
    }
    return lag;
  }

  // --- checkpoints ---------------------------------------------------------------------------

  private void checkpoint(AdapterSlot slot) {
    activate(slot);
    StepBookkeeping books = slot.books;
    String adapterName = slot.name;
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
    slot.evalLoss = evalLoss;
    metrics.retentionLoss(retentionLoss);
    long version = books.nextVersion();
    Optional<AdapterRelease> current = settings.gate().policy()
        == TrainerSettings.ReleasePolicy.MANUAL ? Optional.empty()
        : clients.releases().current(adapterName);
    ReleaseGate.Verdict verdict = judge(slot, current, evalSet, evalLoss, retentionLoss);
    AdapterRelease release = verdict.release() ? Releases.next(current, adapterName,
        version, settings.gate().policy() == TrainerSettings.ReleasePolicy.GATE
            ? ReleaseDecision.GATE_PASSED : ReleaseDecision.UNGATED,
        verdict.summary(), verdict.metrics(), Instant.ofEpochMilli(clock.millis())) : null;
    TrainingState trainingState = books.state(adapterName, training.step(),
        training.optimizerSteps(), settings.seed());
    Map<String, byte[]> files = CheckpointFiles.encode(
        new CheckpointFiles.Content(adapter, training.moments(), trainingState));
    Map<String, Double> manifestMetrics = books.metrics(evalLoss);
    if (Double.isFinite(retentionLoss)) {
      manifestMetrics.put("retention_loss", retentionLoss);
    }
    Map<TopicPartition, Long> boundary = books.boundary();
    List<CheckpointRecord> records = CheckpointFiles.records(adapterName, version, files,
        new CheckpointFiles.ManifestFacts(training.step(), books.examplesTrained(),
            books.tokensTrained(), boundary, identity, slot.lora,
            manifestMetrics, Instant.ofEpochMilli(clock.millis())),
        settings.checkpoints().chunkBytes());
    int deadLettersSent = deadLetters.size();
    // The offsets this transaction commits count this checkpoint as published already (a
    // transaction that fails fails the service: nothing is retried from this state).
    slot.committedBoundary.putAll(boundary);
    books.checkpointed(clock.instant());
    slot.written = publish(adapterName, records, release);
    long bytes = files.values().stream().mapToLong(b -> b.length).sum();
    metrics.published(bytes, System.nanoTime() - started);
    metrics.gate(verdict.release(), verdict.reason());
    System.out.printf("%scheckpoint v%d | step %d | examples %d | tokens %d | eval loss %.4f |"
        + " %d dead letters | %,d bytes%n", prefix(slot), version, training.step(),
        books.examplesTrained(), books.tokensTrained(), evalLoss, deadLettersSent, bytes);
    if (release != null) {
      System.out.printf("%sreleased v%d%s: %s%n", prefix(slot), version, current.map(c ->
          " (replaces v" + c.getVersion() + ")").orElse(""), verdict.summary());
      metrics.releasedVersion(adapterName, version);
      // The next candidates are gated against this one: its weights are at hand.
      slot.baseline = new Baseline(version, adapter.weights(), retentionLoss, evalLoss);
    } else if (verdict.reason() != ReleaseGate.Reason.MANUAL_POLICY) {
      log.warn("candidate v{} of {} refused ({}): {}; v{} stays released", version,
          adapterName, verdict.reason().tag(), verdict.summary(),
          current.map(AdapterRelease::getVersion).orElse(0L));
    }
    onPublished.accept(new Published(adapterName, version, training.step(),
        books.examplesTrained(), books.examplesInSkippedSteps(), books.tokensTrained(), evalLoss,
        boundary, books.examplesReplayed(), retentionLoss, release != null, verdict.reason(),
        verdict.summary()));
  }

  /**
   * The release policy's verdict on the candidate whose losses are {@code evalLoss} (on {@code
   * evalSet}) and {@code retentionLoss}: the current release is scored on the same held-out
   * examples now, and its retention loss is kept from when it became the baseline.
   */
  private ReleaseGate.Verdict judge(AdapterSlot slot, Optional<AdapterRelease> current,
      List<Batch.Example> evalSet, double evalLoss, double retentionLoss) {
    ReleaseGate.Scores candidate = new ReleaseGate.Scores(evalLoss, retentionLoss);
    if (settings.gate().policy() != TrainerSettings.ReleasePolicy.GATE) {
      return gate.decide(candidate, new ReleaseGate.Scores(Double.NaN, Double.NaN), "");
    }
    Baseline b = baseline(slot, current);
    double baselineEval = b.weights() == null ? b.recordedEvalLoss()
        : training.evalLossWith(b.weights(), evalSet);
    return gate.decide(candidate, new ReleaseGate.Scores(baselineEval, b.retentionLoss()),
        b.version() == 0 ? "base model" : "release v" + b.version());
  }

  /** The baseline for {@code current}: cached while the release does not change. */
  private Baseline baseline(AdapterSlot slot, Optional<AdapterRelease> current) {
    long version = current.map(AdapterRelease::getVersion).orElse(0L);
    if (slot.baseline != null && slot.baseline.version() == version) {
      return slot.baseline;
    }
    if (version == 0) {
      Map<String, float[]> base = training.baseWeights();
      slot.baseline = new Baseline(0, base, training.evalLossWith(base, retention), Double.NaN);
      return slot.baseline;
    }
    Optional<Checkpoint> released = clients.checkpoints().version(slot.name, version);
    if (released.isPresent()) {
      Map<String, float[]> weights = CheckpointFiles.decode(released.get(), identity,
          slot.lora).adapter().weights();
      slot.baseline = new Baseline(version, weights, training.evalLossWith(weights, retention),
          Double.NaN);
    } else {
      Map<String, Double> recorded = current.get().getMetrics();
      log.warn("the released checkpoint v{} of {} is not on {} (deleted by retention?); gating"
          + " against the losses its release recorded", version, slot.name,
          settings.kafka().checkpointTopic());
      slot.baseline = new Baseline(version, null,
          recorded.getOrDefault("retention_loss", Double.NaN),
          recorded.getOrDefault("eval_loss", Double.NaN));
    }
    return slot.baseline;
  }

  /**
   * The dead letters, the checkpoint's records, the release (if this checkpoint is released)
   * and the offsets, in one transaction: a release never points at a checkpoint that is not
   * there.
   */
  private CheckpointSource.Written publish(String adapter, List<CheckpointRecord> records,
      AdapterRelease release) {
    Producer<String, Object> producer = clients.producer();
    String topic = settings.kafka().checkpointTopic();
    int partition = CheckpointLocator.partitionFor(adapter,
        producer.partitionsFor(topic).size());
    producer.beginTransaction();
    for (ProducerRecord<String, Object> dl : deadLetters.records()) {
      producer.send(dl);
    }
    java.util.concurrent.Future<org.apache.kafka.clients.producer.RecordMetadata> first = null;
    java.util.concurrent.Future<org.apache.kafka.clients.producer.RecordMetadata> last = null;
    for (CheckpointRecord r : records) {
      last = producer.send(new ProducerRecord<>(topic, partition, adapter, r));
      first = first == null ? last : first;
    }
    if (release != null) {
      String releases = settings.kafka().releasesTopic();
      producer.send(new ProducerRecord<>(releases, CheckpointLocator.partitionFor(
          adapter, producer.partitionsFor(releases).size()), adapter, release));
    }
    commitAndClose(producer);
    return written(topic, partition, first, last);
  }

  /** Where the committed checkpoint's records are, when the producer says (null otherwise). */
  private static CheckpointSource.Written written(String topic, int partition,
      java.util.concurrent.Future<org.apache.kafka.clients.producer.RecordMetadata> first,
      java.util.concurrent.Future<org.apache.kafka.clients.producer.RecordMetadata> last) {
    try {
      if (first == null || !first.isDone() || !last.isDone()) {
        return null;
      }
      long from = first.get().offset();
      long to = last.get().offset();
      return from >= 0 && to >= from ? new CheckpointSource.Written(
          new TopicPartition(topic, partition), from, to) : null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    } catch (java.util.concurrent.ExecutionException e) {
      return null;
    }
  }

  /** The dead letters and the offsets alone, in a transaction of their own. */
  private void commitOffsets() {
    Producer<String, Object> producer = clients.producer();
    producer.beginTransaction();
    for (ProducerRecord<String, Object> dl : deadLetters.records()) {
      producer.send(dl);
    }
    commitAndClose(producer);
  }

  private void commitAndClose(Producer<String, Object> producer) {
    Map<TopicPartition, OffsetAndMetadata> offsets = lowWaterMarks();
    try {
      producer.sendOffsetsToTransaction(offsets, clients.consumer().groupMetadata());
      producer.commitTransaction();
    } catch (org.apache.kafka.common.KafkaException e) {
      if (!GroupMovedOn.causedBy(e)) {
        throw e;
      }
      producer.abortTransaction();
      throw new GroupMovedOn(e);
    }
    lastCommitted = offsets;
    deadLetters.clear();
    next.forEach(deadLettersThrough::put);
  }

  /**
   * Per assigned partition, the offset a trainer taking over must read from: the smallest of
   * the next offset to read and, for each adapter with records not yet in its published history,
   * where they start; with how far dead letters are sent (this transaction's included).
   */
  private Map<TopicPartition, OffsetAndMetadata> lowWaterMarks() {
    Map<TopicPartition, OffsetAndMetadata> out = new LinkedHashMap<>();
    next.forEach((tp, position) -> {
      long low = position;
      for (AdapterSlot slot : slots.values()) {
        low = Math.min(low, slot.resumeFrom(tp));
      }
      out.put(tp, new OffsetAndMetadata(low, DEAD_LETTERS_THROUGH + position));
    });
    return out;
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
