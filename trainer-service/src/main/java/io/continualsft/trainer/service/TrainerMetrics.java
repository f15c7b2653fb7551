package io.continualsft.trainer.service;

import io.continualsft.avro.RejectionReason;
import io.continualsft.trainer.train.LoraTrainer;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.producer.Producer;

/**
 * The trainer's own meters. Prometheus names: {@code sft_trainer_loss}, {@code
 * sft_trainer_eval_loss}, {@code sft_trainer_tokens_trained_total}, {@code
 * sft_trainer_examples_trained_total}, {@code sft_trainer_examples_skipped_total{reason}}, {@code
 * sft_trainer_dead_letters_total{reason}}, {@code sft_trainer_steps_skipped_total}, {@code
 * sft_trainer_step_seconds}, {@code sft_trainer_checkpoint_publish_seconds}, {@code
 * sft_trainer_checkpoint_bytes}, {@code sft_trainer_grad_norm}, {@code
 * sft_trainer_learning_rate}, {@code sft_trainer_token_utilisation}, {@code
 * sft_trainer_tokens_per_second}, {@code sft_trainer_consumer_lag}; plus JVM memory and the Kafka
 * clients' own.
 */
public final class TrainerMetrics implements AutoCloseable {
  /** Why an example was not trained without being a dead letter. */
  public enum Skip {
    OTHER_ADAPTER,
    /** Its adapter learns by the other objective (SFT examples of a KTO adapter, or the reverse). */
    OTHER_OBJECTIVE,
    HELD_OUT,
    /** Read again after a restart or a rebalance: already in its adapter's published history. */
    IN_HISTORY,
    /** Its conversation or subject was erased on request. */
    ERASED
  }

  private final MeterRegistry registry;
  private final Counter trainedTokens;
  private final Counter trainedExamples;
  private final Counter skippedSteps;
  private final Counter invalidCheckpoints;
  private final Timer step;
  private final Timer publish;
  private final DistributionSummary publishedBytes;
  private final Map<RejectionReason, Counter> deadLetters = new EnumMap<>(RejectionReason.class);
  private final Map<Skip, Counter> skipped = new EnumMap<>(Skip.class);
  private final AtomicReference<Double> loss = new AtomicReference<>(Double.NaN);
  private final AtomicReference<Double> evalLoss = new AtomicReference<>(Double.NaN);
  private final AtomicReference<Double> evalRewardAccuracy =
      new AtomicReference<>(Double.NaN);
  private final AtomicReference<Double> gradNorm = new AtomicReference<>(Double.NaN);
  private final AtomicReference<Double> learningRate = new AtomicReference<>(0.0);
  private final AtomicReference<Double> utilisation = new AtomicReference<>(Double.NaN);
  private final AtomicReference<Double> tokensPerSecond = new AtomicReference<>(0.0);
  private final AtomicReference<Double> lag = new AtomicReference<>(0.0);
  private final List<KafkaClientMetrics> clients = new ArrayList<>();
  private final Counter replayedExamples;
  private final Counter replayedTokens;
  private final AtomicReference<Double> retentionLoss = new AtomicReference<>(Double.NaN);
  private final Map<String, java.util.concurrent.atomic.AtomicLong> releasedVersions =
      new java.util.concurrent.ConcurrentHashMap<>();
  private final Map<String, Counter> gateDecisions = new java.util.concurrent.ConcurrentHashMap<>();
  private final Map<String, java.util.concurrent.atomic.AtomicLong> releaseHeld =
      new java.util.concurrent.ConcurrentHashMap<>();
  // Per-adapter meters exist for resident adapters only, so the number of series is bounded by
  // adapters.max-resident however many adapters the stream holds; the aggregates count them all.
  private final Map<String, List<io.micrometer.core.instrument.Meter>> perAdapter =
      new java.util.concurrent.ConcurrentHashMap<>();
  private final java.util.concurrent.atomic.AtomicInteger resident =
      new java.util.concurrent.atomic.AtomicInteger();
  private final java.util.concurrent.atomic.AtomicInteger known =
      new java.util.concurrent.atomic.AtomicInteger();
  private final Counter evictions;
  private final Counter created;
  private final Timer restores;
  private final Counter erasureRewinds;
  private final Counter versionsRevoked;
  private final Counter stepsRetrained;
  private final Timer erasureLatency;
  private final java.util.concurrent.atomic.AtomicLong oldestPendingMillis =
      new java.util.concurrent.atomic.AtomicLong(Long.MAX_VALUE);
  private final java.util.concurrent.atomic.AtomicLong erasuresPending =
      new java.util.concurrent.atomic.AtomicLong();

  public TrainerMetrics(MeterRegistry registry) {
    this.registry = registry;
    new JvmMemoryMetrics().bindTo(registry);
    trainedTokens = Counter.builder("sft.trainer.tokens.trained").register(registry);
    trainedExamples = Counter.builder("sft.trainer.examples.trained").register(registry);
    skippedSteps = Counter.builder("sft.trainer.steps.skipped")
        .description("Steps skipped because the loss or gradient norm was not finite")
        .register(registry);
    invalidCheckpoints = Counter.builder("sft.trainer.checkpoints.invalid")
        .description("Complete checkpoints skipped at restore because their content is malformed")
        .register(registry);
    replayedExamples = Counter.builder("sft.trainer.examples.replayed")
        .description("Examples drawn back from earlier in the stream into a step (replay)")
        .register(registry);
    replayedTokens = Counter.builder("sft.trainer.tokens.replayed")
        .description("Trained tokens of replayed examples (not in sft_trainer_tokens_trained)")
        .register(registry);
    registry.gauge("sft.trainer.retention.loss", retentionLoss, AtomicReference::get);
    registry.gauge("sft.trainer.adapters.resident", resident);
    registry.gauge("sft.trainer.adapters.known", known);
    evictions = Counter.builder("sft.trainer.adapter.evictions")
        .description("Adapters checkpointed and evicted to stay within adapters.max-resident")
        .register(registry);
    erasureRewinds = Counter.builder("sft.trainer.erasure.rewinds")
        .description("Adapters an erasure touched, rewound to their newest clean version and"
            + " retrained without the erased conversations").register(registry);
    versionsRevoked = Counter.builder("sft.trainer.erasure.versions.revoked")
        .description("Checkpoint versions revoked because they trained on erased conversations")
        .register(registry);
    stepsRetrained = Counter.builder("sft.trainer.erasure.steps.retrained")
        .description("Steps an erasure's rewind trained again: from the version it went back to"
            + " up to where the adapter was").register(registry);
    erasureLatency = Timer.builder("sft.trainer.erasure.latency")
        .description("From an erasure request's requestedAt to the trainer's rewind committed"
            + " (or to finding that it touched nothing here)").register(registry);
    io.micrometer.core.instrument.Gauge.builder("sft.trainer.erasure.oldest.pending.age",
        oldestPendingMillis, m -> m.get() == Long.MAX_VALUE ? 0
            : Math.max(0, System.currentTimeMillis() - m.get()) / 1000.0)
        .baseUnit("seconds")
        .description("Age of the oldest erasure request not yet applied (0: none): the deletion"
            + " SLO's alert watches it").register(registry);
    io.micrometer.core.instrument.Gauge.builder("sft.trainer.erasure.requests.pending",
        erasuresPending, java.util.concurrent.atomic.AtomicLong::get)
        .description("Erasure requests read but not yet applied (waiting for"
            + " erasure.batch-window)").register(registry);
    created = Counter.builder("sft.trainer.adapters.new")
        .description("Adapters first seen without a checkpoint, so started fresh (a new adapter;"
            + " one whose partition moves before its first checkpoint counts again). Not"
            + " *.created: Prometheus reserves that suffix for a counter's creation time")
        .register(registry);
    restores = Timer.builder("sft.trainer.adapter.restore")
        .description("Restoring an evicted adapter from its checkpoint").register(registry);
    for (io.continualsft.trainer.release.ReleaseGate.Reason reason
        : io.continualsft.trainer.release.ReleaseGate.Reason.values()) {
      if (reason != io.continualsft.trainer.release.ReleaseGate.Reason.HELD) {
        gate(true, reason, false); // both decisions at 0, so increase() works from the start
      }
      gate(false, reason, false);
    }
    step = Timer.builder("sft.trainer.step").register(registry);
    publish = Timer.builder("sft.trainer.checkpoint.publish").register(registry);
    publishedBytes = DistributionSummary.builder("sft.trainer.checkpoint.bytes").baseUnit("bytes")
        .register(registry);
    registry.gauge("sft.trainer.loss", loss, AtomicReference::get);
    registry.gauge("sft.trainer.eval.loss", evalLoss, AtomicReference::get);
    registry.gauge("sft.trainer.eval.reward.accuracy", evalRewardAccuracy, AtomicReference::get);
    registry.gauge("sft.trainer.grad.norm", gradNorm, AtomicReference::get);
    registry.gauge("sft.trainer.learning.rate", learningRate, AtomicReference::get);
    registry.gauge("sft.trainer.token.utilisation", utilisation, AtomicReference::get);
    registry.gauge("sft.trainer.tokens.per.second", tokensPerSecond, AtomicReference::get);
    // Records between the trainer's position and the end of its input, refreshed at every
    // progress line and when caught up: unlike the Kafka client's windowed records-lag metrics,
    // it holds its value while the trainer is busy in a long step.
    registry.gauge("sft.trainer.consumer.lag", lag, AtomicReference::get);
    for (RejectionReason reason : RejectionReason.values()) { // at 0, so rate() works from the start
      deadLetters.put(reason, Counter.builder("sft.trainer.dead.letters")
          .tag("reason", reason.name())
          .description("Examples sent to the dead-letter topic, by reason").register(registry));
    }
    for (Skip reason : Skip.values()) {
      skipped.put(reason, Counter.builder("sft.trainer.examples.skipped")
          .tag("reason", reason.name()).register(registry));
    }
  }

  /** A complete checkpoint whose content did not parse was skipped. */
  public void invalidCheckpoint() {
    invalidCheckpoints.increment();
  }

  /** The Kafka clients' own metrics ({@code kafka_consumer_*}, {@code kafka_producer_*}). */
  public void bind(Consumer<?, ?> consumer, Producer<?, ?> producer) {
    clients.add(new KafkaClientMetrics(consumer));
    clients.add(new KafkaClientMetrics(producer));
    clients.forEach(m -> m.bindTo(registry));
  }

  /** Per-adapter meters of {@code slot} while it is resident ({@code {adapter}} tag). */
  void adapterResident(AdapterSlot slot) {
    perAdapter.computeIfAbsent(slot.name, name -> List.of(
        io.micrometer.core.instrument.FunctionCounter.builder(
                "sft.trainer.adapter.tokens.trained", slot, s -> s.books.tokensTrained())
            .tag("adapter", name).description("Trained tokens in the adapter's history")
            .register(registry),
        io.micrometer.core.instrument.FunctionCounter.builder(
                "sft.trainer.adapter.examples.trained", slot, s -> s.books.examplesTrained())
            .tag("adapter", name).register(registry),
        io.micrometer.core.instrument.Gauge.builder("sft.trainer.adapter.loss", slot,
                s -> s.books.lastLoss()).tag("adapter", name).register(registry),
        io.micrometer.core.instrument.Gauge.builder("sft.trainer.adapter.eval.loss", slot,
                s -> s.evalLoss).tag("adapter", name).register(registry),
        io.micrometer.core.instrument.Gauge.builder("sft.trainer.adapter.checkpoint.version",
                slot, s -> s.books.version()).tag("adapter", name).register(registry)));
  }

  /** {@code adapter} left memory (evicted, or its partition went to another trainer). */
  void adapterGone(String adapter) {
    List<io.micrometer.core.instrument.Meter> meters = perAdapter.remove(adapter);
    if (meters != null) {
      meters.forEach(registry::remove);
    }
    removeAdapterGauge(releaseHeld, "sft.trainer.release.held", adapter);
    removeAdapterGauge(releasedVersions, "sft.trainer.released.version", adapter);
  }

  void evicted(String adapter) {
    evictions.increment();
    adapterGone(adapter);
  }

  void restored(long nanos) {
    restores.record(nanos, TimeUnit.NANOSECONDS);
  }

  /** An adapter rewound by an erasure, revoking {@code revoked} versions. */
  void erasureRewind(int revoked) {
    erasureRewinds.increment();
    versionsRevoked.increment(revoked);
  }

  /** {@code pending} requests not yet applied, the oldest requested at {@code oldestMillis}. */
  void erasuresPending(long pending, long oldestMillis) {
    erasuresPending.set(pending);
    oldestPendingMillis.set(pending == 0 ? Long.MAX_VALUE : oldestMillis);
  }

  /** A request requested at {@code requestedAtMillis} was applied now. */
  void erasureApplied(long requestedAtMillis, long nowMillis) {
    erasureLatency.record(java.time.Duration.ofMillis(Math.max(0,
        nowMillis - requestedAtMillis)));
  }

  void stepsRetrained(long steps) {
    stepsRetrained.increment(steps);
  }

  void adapterCreated() {
    created.increment();
  }

  void adapters(int residentNow, int knownNow) {
    resident.set(residentNow);
    known.set(knownNow);
  }

  public double evictions() {
    return evictions.count();
  }

  /** Restores of evicted adapters so far, and their mean time in seconds. */
  public double[] restores() {
    return new double[] {restores.count(), restores.mean(TimeUnit.NANOSECONDS) / 1e9};
  }

  void stepped(LoraTrainer.StepResult result, int examples, int replayed, long replayTokens,
      long nanos, double lastLoss, double lastGradNorm) {
    step.record(nanos, TimeUnit.NANOSECONDS);
    if (result.applied()) {
      trainedExamples.increment(examples);
      trainedTokens.increment(result.trainedTokens() - replayTokens);
      replayedExamples.increment(replayed);
      replayedTokens.increment(replayTokens);
    } else {
      skippedSteps.increment();
    }
    loss.set(lastLoss);
    gradNorm.set(lastGradNorm);
    learningRate.set(result.learningRate());
    utilisation.set(result.utilisation());
  }

  void skipped(Skip reason) {
    skipped.get(reason).increment();
  }

  void deadLetter(RejectionReason reason) {
    deadLetters.get(reason).increment();
  }

  void published(long bytes, long nanos) {
    publishedBytes.record(bytes);
    publish.record(nanos, TimeUnit.NANOSECONDS);
  }

  void evalLoss(double value) {
    evalLoss.set(value);
  }

  /** A KTO adapter's held-out reward accuracy at its last checkpoint (NaN: an SFT adapter). */
  void evalRewardAccuracy(double value) {
    evalRewardAccuracy.set(value);
  }

  void retentionLoss(double value) {
    retentionLoss.set(value);
  }

  /** A gate decision: {@code sft_trainer_gate_decisions_total{decision, reason}}. */
  void gate(boolean released, io.continualsft.trainer.release.ReleaseGate.Reason reason) {
    gate(released, reason, true);
  }

  private void gate(boolean released, io.continualsft.trainer.release.ReleaseGate.Reason reason,
      boolean count) {
    // A held candidate is neither: the operator, not the policy, decided (and no alert on
    // refusals should count it).
    String decision = released ? "released"
        : reason == io.continualsft.trainer.release.ReleaseGate.Reason.HELD ? "held" : "refused";
    Counter c = gateDecisions.computeIfAbsent(decision + "/" + reason.tag(), k ->
        Counter.builder("sft.trainer.gate.decisions").tag("decision", decision)
            .tag("reason", reason.tag())
            .description("Candidates released, refused by the release policy, or held by an"
                + " operator, by reason")
            .register(registry));
    if (count) {
      c.increment();
    }
  }

  /**
   * Whether an operator holds the adapter's release ({@code release --hold}), as the last
   * candidate found it: {@code sft_trainer_release_held{adapter}} 1 or 0.
   */
  void releaseHeld(String adapter, boolean held) {
    adapterGauge(releaseHeld, "sft.trainer.release.held", "1 while an operator holds the"
        + " adapter's release (release --hold): candidates are cut, none released", adapter)
        .set(held ? 1 : 0);
  }

  /** The version serving should load: {@code sft_trainer_released_version{adapter}}. */
  void releasedVersion(String adapter, long version) {
    adapterGauge(releasedVersions, "sft.trainer.released.version", "The adapter's released"
        + " version (0: none yet)", adapter).set(version);
  }

  /** {@code adapter}'s value of the gauge {@code name}, registered on first use. */
  private java.util.concurrent.atomic.AtomicLong adapterGauge(
      Map<String, java.util.concurrent.atomic.AtomicLong> values, String name,
      String description, String adapter) {
    return values.computeIfAbsent(adapter, a -> {
      java.util.concurrent.atomic.AtomicLong v = new java.util.concurrent.atomic.AtomicLong();
      io.micrometer.core.instrument.Gauge.builder(name, v,
              java.util.concurrent.atomic.AtomicLong::get)
          .tag("adapter", a).description(description).register(registry);
      return v;
    });
  }

  /** Forgets {@code adapter}'s value of the gauge {@code name}, and the gauge. */
  private void removeAdapterGauge(Map<String, java.util.concurrent.atomic.AtomicLong> values,
      String name, String adapter) {
    if (values.remove(adapter) != null) {
      registry.find(name).tag("adapter", adapter).meters().forEach(registry::remove);
    }
  }

  public double gateDecisions(boolean released) {
    return gateDecisions(released ? "released" : "refused");
  }

  /** Candidates with {@code decision} (released, refused or held) so far. */
  public double gateDecisions(String decision) {
    String prefix = decision + "/";
    return gateDecisions.entrySet().stream().filter(e -> e.getKey().startsWith(prefix))
        .mapToDouble(e -> e.getValue().count()).sum();
  }

  void tokensPerSecond(double value) {
    tokensPerSecond.set(value);
  }

  void lag(long records) {
    lag.set((double) records);
  }

  public MeterRegistry registry() {
    return registry;
  }

  public double tokensTrained() {
    return trainedTokens.count();
  }

  public double stepsSkipped() {
    return skippedSteps.count();
  }

  @Override
  public void close() {
    clients.forEach(KafkaClientMetrics::close);
  }
}
