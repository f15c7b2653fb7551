package io.continualsft.trainer.service;

import io.continualsft.avro.AdapterRelease;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.trainer.checkpoint.CheckpointFiles;
import io.continualsft.trainer.checkpoint.TrainingState;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.lora.PeftAdapter;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.ModelIdentity;
import io.continualsft.trainer.release.ReleaseGate;
import io.continualsft.trainer.train.AdapterTraining;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Cuts a checkpoint of an adapter, always between two of its steps: scores the candidate on its
 * held-out examples and the retention set, has the {@link ReleaseJudge} decide on it, encodes
 * the adapter, its moments and its state, and commits the records, the release (if any), the
 * dead letters and the offsets in one transaction. The offsets it records are exact: every
 * record of the adapter before them is in its history and none after.
 */
final class CheckpointCutter {
  private static final Logger log = LoggerFactory.getLogger(CheckpointCutter.class);

  private final TrainerSettings settings;
  private final AdapterTraining training;
  private final ModelIdentity identity;
  private final TrainerMetrics metrics;
  private final Clock clock;
  private final List<Batch.Example> retention;
  private final ResidentAdapters adapters;
  private final ReleaseJudge judge;
  private final TransactionalCommitter committer;
  private final Consumer<Published> onPublished;
  private final ProgressReport progress;

  CheckpointCutter(TrainerSettings settings, AdapterTraining training, ModelIdentity identity,
      TrainerMetrics metrics, Clock clock, List<Batch.Example> retention,
      ResidentAdapters adapters, ReleaseJudge judge, TransactionalCommitter committer,
      Consumer<Published> onPublished, ProgressReport progress) {
    this.settings = settings;
    this.training = training;
    this.identity = identity;
    this.metrics = metrics;
    this.clock = clock;
    this.retention = retention;
    this.adapters = adapters;
    this.judge = judge;
    this.committer = committer;
    this.onPublished = onPublished;
    this.progress = progress;
  }

  /**
   * Cuts the next version of {@code slot}'s adapter.
   *
   * @throws IllegalStateException when the adapter holds a value that is not finite: it must
   *     never be published
   */
  void cut(AdapterSlot slot) {
    adapters.activate(slot);
    StepBookkeeping books = slot.books;
    long started = System.nanoTime();
    PeftAdapter adapter = training.adapter(identity.baseModelName());
    List<Batch.Example> evalSet = books.evalSet();
    // The objective's loss on the held-out examples (KTO's on rated turns, with its reward
    // accuracy); the retention loss is cross-entropy on conversations whatever the objective:
    // what the adapter has forgotten of them.
    AdapterTraining.Evaluation eval = training.evaluate(evalSet, slot.objective);
    double evalLoss = eval.loss();
    double retentionLoss = training.evalLoss(retention);
    metrics.evalLoss(evalLoss);
    metrics.evalRewardAccuracy(eval.rewardAccuracy());
    slot.evalLoss = evalLoss;
    metrics.retentionLoss(retentionLoss);
    long version = books.nextVersion();
    Instant now = Instant.ofEpochMilli(clock.millis());
    ReleaseJudge.Judgement judgement = judge.judge(slot, version, evalSet, evalLoss,
        retentionLoss, now);
    ReleaseGate.Verdict verdict = judgement.verdict();
    AdapterRelease release = judgement.release();
    TrainingState state = books.state(slot.name, training.step(), training.optimizerSteps(),
        settings.seed());
    Map<String, Double> manifestMetrics = books.metrics(evalLoss);
    if (Double.isFinite(eval.rewardAccuracy())) {
      manifestMetrics.put("eval_reward_accuracy", eval.rewardAccuracy());
    }
    if (Double.isFinite(retentionLoss)) {
      manifestMetrics.put("retention_loss", retentionLoss);
    }
    Map<TopicPartition, Long> boundary = books.boundary();
    CheckpointFiles.Encoded encoded = CheckpointFiles.records(slot.name, version,
        new CheckpointFiles.Content(adapter, training.moments(), state),
        new CheckpointFiles.ManifestFacts(training.step(), books.examplesTrained(),
            books.tokensTrained(), boundary, identity, slot.lora, manifestMetrics,
            Instant.ofEpochMilli(clock.millis())),
        new CheckpointFiles.ManifestLineage(books.parentVersion(), books.lineage().entries(),
            slot.erasuresChecked, List.of(), null),
        settings.checkpoints().chunkBytes());
    List<CheckpointRecord> records = encoded.records();
    int deadLettersSent = committer.pendingDeadLetters();
    // The offsets this transaction commits count this checkpoint as published already (a
    // transaction that fails fails the service: nothing is retried from this state).
    slot.committedBoundary.putAll(boundary);
    books.checkpointed(clock.instant());
    slot.written = committer.publish(slot.name, records, release);
    metrics.published(encoded.bytes(), System.nanoTime() - started);
    metrics.gate(verdict.release(), verdict.reason());
    if (verdict.reason() != ReleaseGate.Reason.MANUAL_POLICY) {
      metrics.releaseHeld(slot.name, verdict.reason() == ReleaseGate.Reason.HELD);
    }
    String prefix = adapters.prefix(slot);
    progress.checkpoint(prefix, version, training.step(), books.examplesTrained(),
        books.tokensTrained(), evalLoss, deadLettersSent, encoded.bytes());
    if (release != null) {
      progress.released(prefix, version, judgement.current().map(AdapterRelease::getVersion)
          .orElse(null), verdict.summary());
      metrics.releasedVersion(slot.name, version);
      // The next candidates are gated against this one: its weights are at hand.
      judge.released(slot, version, adapter.weights(), retentionLoss, evalLoss);
    } else if (verdict.reason() == ReleaseGate.Reason.HELD) {
      log.info("candidate v{} of {} not released: {}", version, slot.name, verdict.summary());
    } else if (verdict.reason() != ReleaseGate.Reason.MANUAL_POLICY) {
      log.warn("candidate v{} of {} refused ({}): {}; v{} stays released", version, slot.name,
          verdict.reason().tag(), verdict.summary(),
          judgement.current().map(AdapterRelease::getVersion).orElse(0L));
    }
    onPublished.accept(new Published(slot.name, version, training.step(),
        books.examplesTrained(), books.examplesInSkippedSteps(), books.tokensTrained(), evalLoss,
        boundary, books.examplesReplayed(), retentionLoss, release != null, verdict.reason(),
        verdict.summary()));
  }
}
