package io.continualsft.trainer.service;

import io.continualsft.avro.AdapterRelease;
import io.continualsft.avro.ReleaseDecision;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointFiles;
import io.continualsft.trainer.checkpoint.CheckpointSource;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.ModelIdentity;
import io.continualsft.trainer.release.ReleaseGate;
import io.continualsft.trainer.release.ReleaseSource;
import io.continualsft.trainer.release.Releases;
import io.continualsft.trainer.train.AdapterTraining;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether a candidate is released, by the release policy, which is looked at here and nowhere
 * else: {@code manual} releases nothing (and reads no release), {@code every-candidate} releases
 * each, {@code gate} releases a candidate whose losses hold against the current release's ({@link
 * ReleaseGate}). The current release is re-read from its topic for each candidate, so a
 * rollback by hand moves the baseline too; its weights and retention loss are cached in the
 * adapter's slot while it stays the release. A release an operator holds ({@code release
 * --hold}) stops every policy from releasing until it is resumed.
 */
final class ReleaseJudge {
  private static final Logger log = LoggerFactory.getLogger(ReleaseJudge.class);

  /**
   * What the gate compares a candidate with: the current release's adapter (or the base model,
   * version 0, before the first release) and its retention loss. {@code weights} is null when
   * the release's checkpoint is no longer on the topic; its recorded metrics stand in then.
   */
  record Baseline(long version, Map<String, float[]> weights, double retentionLoss,
      double recordedEvalLoss) {}

  /**
   * The verdict on a candidate, the release it replaces, and the release record to write with
   * it (null: not released).
   */
  record Judgement(ReleaseGate.Verdict verdict, Optional<AdapterRelease> current,
      AdapterRelease release) {}

  private final TrainerSettings.Gate settings;
  private final ReleaseGate gate;
  private final ReleaseSource releases;
  private final CheckpointSource checkpoints;
  private final AdapterTraining training;
  private final ModelIdentity identity;
  private final List<Batch.Example> retention;
  private final String checkpointTopic;

  ReleaseJudge(TrainerSettings settings, ReleaseSource releases, CheckpointSource checkpoints,
      AdapterTraining training, ModelIdentity identity, List<Batch.Example> retention) {
    this.settings = settings.gate();
    this.gate = new ReleaseGate(settings.gate());
    this.releases = releases;
    this.checkpoints = checkpoints;
    this.training = training;
    this.identity = identity;
    this.retention = retention;
    this.checkpointTopic = settings.kafka().checkpointTopic();
  }

  /**
   * The verdict on version {@code version} of {@code slot}'s adapter (the one in the model now),
   * whose losses are {@code evalLoss} on {@code evalSet} and {@code retentionLoss}.
   */
  Judgement judge(AdapterSlot slot, long version, List<Batch.Example> evalSet, double evalLoss,
      double retentionLoss, Instant now) {
    ReleaseGate.Scores candidate = new ReleaseGate.Scores(evalLoss, retentionLoss);
    if (settings.policy() == TrainerSettings.ReleasePolicy.MANUAL) {
      return new Judgement(ReleaseGate.manual(candidate), Optional.empty(), null);
    }
    // Read once per candidate: it is a lookup on the releases topic.
    Optional<AdapterRelease> current = releases.current(slot.name);
    if (current.isPresent() && current.get().getHold() != null) {
      return new Judgement(ReleaseGate.held(candidate, current.get().getVersion(),
          current.get().getHold()), current, null);
    }
    return switch (settings.policy()) {
      case MANUAL -> throw new IllegalStateException("judged above");
      case EVERY_CANDIDATE -> {
        ReleaseGate.Verdict verdict = ReleaseGate.ungated(candidate);
        yield new Judgement(verdict, current, Releases.next(current, slot.name, version,
            ReleaseDecision.UNGATED, verdict.summary(), verdict.metrics(), now));
      }
      case GATE -> {
        Baseline b = baseline(slot, current);
        // The release is scored on the same held-out examples now; its retention loss is kept
        // from when it became the baseline.
        double baselineEval = b.weights() == null ? b.recordedEvalLoss()
            : training.evaluateWith(b.weights(), evalSet, slot.objective).loss();
        ReleaseGate.Verdict verdict = gate.decide(candidate,
            new ReleaseGate.Scores(baselineEval, b.retentionLoss()),
            b.version() == 0 ? "base model" : "release v" + b.version());
        yield new Judgement(verdict, current, verdict.release() ? Releases.next(current,
            slot.name, version, ReleaseDecision.GATE_PASSED, verdict.summary(),
            verdict.metrics(), now) : null);
      }
    };
  }

  /** The release now (empty before the first): for the meters at start. */
  Optional<AdapterRelease> current(String adapter) {
    return releases.current(adapter);
  }

  /** {@code version} of {@code slot}'s adapter was released: the next candidates face it. */
  void released(AdapterSlot slot, long version, Map<String, float[]> weights,
      double retentionLoss, double evalLoss) {
    slot.baseline = new Baseline(version, weights, retentionLoss, evalLoss);
  }

  /** The baseline for {@code current}: cached while the release does not change. */
  private Baseline baseline(AdapterSlot slot, Optional<AdapterRelease> current) {
    long version = current.map(AdapterRelease::getVersion).orElse(0L);
    if (slot.baseline != null && slot.baseline.version() == version) {
      return slot.baseline;
    }
    if (version == 0) {
      Map<String, float[]> base = training.baseModelWeights();
      slot.baseline = new Baseline(0, base, training.evalLossWith(base, retention), Double.NaN);
      return slot.baseline;
    }
    Optional<Checkpoint> released = checkpoints.version(slot.name, version);
    if (released.isPresent()) {
      Map<String, float[]> weights = CheckpointFiles.decode(released.get(), identity,
          slot.lora).adapter().weights();
      slot.baseline = new Baseline(version, weights, training.evalLossWith(weights, retention),
          Double.NaN);
    } else {
      Map<String, Double> recorded = current.get().getMetrics();
      log.warn("the released checkpoint v{} of {} is not on {} (deleted by retention?); gating"
          + " against the losses its release recorded", version, slot.name, checkpointTopic);
      slot.baseline = new Baseline(version, null,
          recorded.getOrDefault("retention_loss", Double.NaN),
          recorded.getOrDefault("eval_loss", Double.NaN));
    }
    return slot.baseline;
  }
}
