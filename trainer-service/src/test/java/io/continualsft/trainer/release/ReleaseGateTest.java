package io.continualsft.trainer.release;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.release.ReleaseGate.Reason;
import io.continualsft.trainer.release.ReleaseGate.Scores;
import org.junit.jupiter.api.Test;

class ReleaseGateTest {
  static final double NONE = Double.NaN;

  static ReleaseGate gate(double maxEvalIncrease, double maxRetentionIncrease) {
    return new ReleaseGate(new TrainerSettings.Gate(TrainerSettings.ReleasePolicy.GATE,
        maxEvalIncrease, maxRetentionIncrease, 0));
  }

  @Test
  void aCandidateNoWorseOnBothIsReleasedWithTheNumbersItWasJudgedOn() {
    ReleaseGate.Verdict v = gate(0, 0.05).decide(new Scores(2.0, 3.1), new Scores(2.0, 3.0),
        "release v4");
    assertThat(v.release()).isTrue();
    assertThat(v.reason()).isEqualTo(Reason.PASSED);
    assertThat(v.summary()).isEqualTo("eval loss 2.0000 <= 2.0000 (release v4 2.0000 + 0 %);"
        + " retention loss 3.1000 <= 3.1500 (release v4 3.0000 + 5 %)");
    assertThat(v.metrics()).containsExactly(java.util.Map.entry("eval_loss", 2.0),
        java.util.Map.entry("baseline_eval_loss", 2.0), java.util.Map.entry("retention_loss", 3.1),
        java.util.Map.entry("baseline_retention_loss", 3.0));
  }

  @Test
  void aWorseEvalLossIsRefusedEvenWhenRetentionHolds() {
    ReleaseGate.Verdict v = gate(0.02, 0.05).decide(new Scores(2.05, 3.0), new Scores(2.0, 3.0),
        "base model");
    assertThat(v.release()).isFalse();
    assertThat(v.reason()).isEqualTo(Reason.EVAL_REGRESSED);
    assertThat(v.summary()).startsWith("eval loss 2.0500 > 2.0400 (base model 2.0000 + 2 %)")
        .endsWith("passed: retention loss 3.0000 <= 3.1500 (base model 3.0000 + 5 %)");
  }

  @Test
  void forgettingBeyondEpsilonIsRefusedEvenWhenTheNewDataImproves() {
    ReleaseGate.Verdict v = gate(0, 0.05).decide(new Scores(1.0, 3.2), new Scores(2.0, 3.0),
        "release v2");
    assertThat(v.release()).isFalse();
    assertThat(v.reason()).isEqualTo(Reason.RETENTION_REGRESSED);
  }

  @Test
  void aCheckWithoutDataIsSkippedAndNoDataAtAllReleases() {
    assertThat(gate(0, 0.05).decide(new Scores(NONE, 3.0), new Scores(NONE, 3.0), "b").reason())
        .isEqualTo(Reason.PASSED);
    assertThat(gate(0, 0.05).decide(new Scores(2.5, NONE), new Scores(2.0, NONE), "b").reason())
        .isEqualTo(Reason.EVAL_REGRESSED);
    ReleaseGate.Verdict v = gate(0, 0.05).decide(new Scores(NONE, NONE), new Scores(NONE, NONE),
        "b");
    assertThat(v.release()).isTrue();
    assertThat(v.reason()).isEqualTo(Reason.NO_EVALUATION_DATA);
    assertThat(v.metrics()).isEmpty();
  }

  @Test
  void anAbsoluteToleranceKeepsTinyLossesNoiseFromCountingAsARegression() {
    ReleaseGate gate = new ReleaseGate(new TrainerSettings.Gate(
        TrainerSettings.ReleasePolicy.GATE, 0, 0.05, 0.01));
    // 0.0002 against 0.0001 is "100 % worse", and nothing in nats.
    ReleaseGate.Verdict tiny = gate.decide(new Scores(0.0002, 0.0150), new Scores(0.0001, 0.0100),
        "release v60");
    assertThat(tiny.release()).isTrue();
    assertThat(tiny.summary()).startsWith("eval loss 0.0002 <= 0.0101 (release v60 0.0001 + 0 %"
        + " or 0.01)");
    // On large losses the relative tolerance is the larger one, and still binds.
    ReleaseGate.Verdict large = gate.decide(new Scores(2.0, 3.2), new Scores(2.0, 3.0), "b");
    assertThat(large.reason()).isEqualTo(Reason.RETENTION_REGRESSED);
    assertThat(large.summary()).startsWith("retention loss 3.2000 > 3.1500 (b 3.0000 + 5 % or"
        + " 0.01)");
  }

  @Test
  void anInfiniteLossIsNeverReleased() {
    ReleaseGate.Verdict v = gate(10, 10).decide(new Scores(Double.POSITIVE_INFINITY, 1.0),
        new Scores(2.0, 3.0), "b");
    assertThat(v.release()).isFalse();
    assertThat(v.reason()).isEqualTo(Reason.NOT_FINITE);
  }

  @Test
  void theOtherPoliciesVerdictsReleaseEveryCandidateOrNoneWithTheirNumbers() {
    Scores worse = new Scores(9.0, Double.NaN);
    assertThat(ReleaseGate.ungated(worse))
        .extracting(ReleaseGate.Verdict::release, ReleaseGate.Verdict::reason,
            ReleaseGate.Verdict::summary, ReleaseGate.Verdict::metrics)
        .containsExactly(true, Reason.UNGATED, "release.policy=every-candidate",
            java.util.Map.of("eval_loss", 9.0));
    assertThat(ReleaseGate.manual(worse))
        .extracting(ReleaseGate.Verdict::release, ReleaseGate.Verdict::reason)
        .containsExactly(false, Reason.MANUAL_POLICY);
  }
}
