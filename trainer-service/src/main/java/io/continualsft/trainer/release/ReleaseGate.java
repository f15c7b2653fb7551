package io.continualsft.trainer.release;

import io.continualsft.trainer.config.TrainerSettings;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The evaluation gate as a pure function: a candidate's scores against its baseline's (the
 * current release, or the base model before the first release), and whether it is released.
 * (Which policy applies is the trainer's {@code ReleaseJudge}'s question; the verdicts of the
 * other two policies are here so every verdict reads alike.)
 *
 * <p>Two checks, each skipped when its data is missing: the new-data eval loss (on the same
 * held-out examples for both) may be at most {@code 1 + maxEvalIncrease} times the baseline's,
 * and the retention loss at most {@code 1 + maxRetentionIncrease} times the baseline's; either
 * may also exceed the baseline by {@code absoluteTolerance}, so that a well-learned adapter's
 * tiny losses (1e-4 against 1e-4 + noise) do not make every candidate a regression. A
 * candidate with nothing to be scored on (no held-out example, no retention set) is released:
 * the gate cannot know better, and refusing for ever would stop serving from following training.
 */
public final class ReleaseGate {
  /** Why a candidate was (not) released; the metric's {@code reason} tag. */
  public enum Reason {
    PASSED, NO_EVALUATION_DATA, EVAL_REGRESSED, RETENTION_REGRESSED, NOT_FINITE, UNGATED,
    MANUAL_POLICY, HELD;

    public String tag() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** A model's losses: new data (held out) and retention set; NaN when not measured. */
  public record Scores(double evalLoss, double retentionLoss) {}

  /**
   * The decision, with {@code summary} in words (the checks and their numbers) and {@code
   * metrics} the numbers it was based on, for the release record and the log.
   */
  public record Verdict(boolean release, Reason reason, String summary,
      Map<String, Double> metrics) {}

  private final TrainerSettings.Gate settings;

  public ReleaseGate(TrainerSettings.Gate settings) {
    this.settings = settings;
  }

  /** A candidate under {@code release.policy=manual}: released by hand only. */
  public static Verdict manual(Scores candidate) {
    return new Verdict(false, Reason.MANUAL_POLICY, "release.policy=manual: released by hand"
        + " only", metrics(candidate, new Scores(Double.NaN, Double.NaN)));
  }

  /**
   * A candidate while an operator holds release {@code version} ({@code release --hold}): not
   * released, whatever the policy; not a refusal either, so no alert counts it.
   */
  public static Verdict held(Scores candidate, long version,
      io.continualsft.avro.ReleaseHold hold) {
    return new Verdict(false, Reason.HELD, "release held at v" + version + " since "
        + hold.getSince() + ": " + hold.getReason() + " (trainer-service release --resume"
        + " lifts it)", metrics(candidate, new Scores(Double.NaN, Double.NaN)));
  }

  /** A candidate under {@code release.policy=every-candidate}: released, unchecked. */
  public static Verdict ungated(Scores candidate) {
    return new Verdict(true, Reason.UNGATED, "release.policy=every-candidate",
        metrics(candidate, new Scores(Double.NaN, Double.NaN)));
  }

  /** The gate's verdict on {@code candidate} against {@code baseline} ({@code baselineName}). */
  public Verdict decide(Scores candidate, Scores baseline, String baselineName) {
    Map<String, Double> metrics = metrics(candidate, baseline);
    if (Double.isInfinite(candidate.evalLoss()) || Double.isInfinite(candidate.retentionLoss())) {
      return new Verdict(false, Reason.NOT_FINITE, "a loss of the candidate is infinite",
          metrics);
    }
    List<String> passed = new ArrayList<>();
    List<String> failed = new ArrayList<>();
    Reason firstFailure = null;
    if (measured(candidate.evalLoss(), baseline.evalLoss())) {
      double limit = limit(baseline.evalLoss(), settings.maxEvalIncrease());
      String check = String.format(Locale.ROOT, "eval loss %.4f %s %.4f (%s %.4f + %s)",
          candidate.evalLoss(), candidate.evalLoss() <= limit ? "<=" : ">", limit, baselineName,
          baseline.evalLoss(), tolerance(settings.maxEvalIncrease()));
      if (candidate.evalLoss() <= limit) {
        passed.add(check);
      } else {
        failed.add(check);
        firstFailure = Reason.EVAL_REGRESSED;
      }
    }
    if (measured(candidate.retentionLoss(), baseline.retentionLoss())) {
      double limit = limit(baseline.retentionLoss(), settings.maxRetentionIncrease());
      String check = String.format(Locale.ROOT, "retention loss %.4f %s %.4f (%s %.4f + %s)",
          candidate.retentionLoss(), candidate.retentionLoss() <= limit ? "<=" : ">", limit,
          baselineName, baseline.retentionLoss(), tolerance(settings.maxRetentionIncrease()));
      if (candidate.retentionLoss() <= limit) {
        passed.add(check);
      } else {
        failed.add(check);
        firstFailure = firstFailure == null ? Reason.RETENTION_REGRESSED : firstFailure;
      }
    }
    if (firstFailure != null) {
      return new Verdict(false, firstFailure, String.join("; ", failed)
          + (passed.isEmpty() ? "" : "; passed: " + String.join("; ", passed)), metrics);
    }
    if (passed.isEmpty()) {
      return new Verdict(true, Reason.NO_EVALUATION_DATA, "nothing to score it on (no held-out"
          + " example and no retention set)", metrics);
    }
    return new Verdict(true, Reason.PASSED, String.join("; ", passed), metrics);
  }

  private static Map<String, Double> metrics(Scores candidate, Scores baseline) {
    Map<String, Double> metrics = new LinkedHashMap<>();
    put(metrics, "eval_loss", candidate.evalLoss());
    put(metrics, "baseline_eval_loss", baseline.evalLoss());
    put(metrics, "retention_loss", candidate.retentionLoss());
    put(metrics, "baseline_retention_loss", baseline.retentionLoss());
    return metrics;
  }

  /** The most a candidate may lose: the relative tolerance, or the absolute one if larger. */
  private double limit(double baseline, double relative) {
    return Math.max(baseline * (1 + relative), baseline + settings.absoluteTolerance());
  }

  /** "5 %", or "5 % or 0.01" with an absolute tolerance. */
  private String tolerance(double relative) {
    return percent(relative) + (settings.absoluteTolerance() > 0
        ? " or " + new java.math.BigDecimal(settings.absoluteTolerance())
            .round(new java.math.MathContext(4)).stripTrailingZeros().toPlainString() : "");
  }

  private static boolean measured(double candidate, double baseline) {
    return !Double.isNaN(candidate) && Double.isFinite(baseline);
  }

  private static String percent(double relative) {
    return String.format(Locale.ROOT, "%s %%", new java.math.BigDecimal(relative * 100)
        .round(new java.math.MathContext(4)).stripTrailingZeros().toPlainString());
  }

  private static void put(Map<String, Double> m, String key, double value) {
    if (Double.isFinite(value)) {
      m.put(key, value);
    }
  }
}
