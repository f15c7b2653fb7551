package io.continualsft.trainer.service;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.continualsft.avro.AdapterRelease;
import io.continualsft.avro.ReleaseDecision;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.release.ReleaseGate;
import io.continualsft.trainer.release.ReleaseSource;
import io.continualsft.trainer.release.Releases;
import io.continualsft.trainer.train.AdapterTraining;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The release policy, which the judge alone looks at: what each policy reads, what it releases,
 * and which release record it writes; the gate's baseline is the base model before the first
 * release and is cached while the release stays.
 */
class ReleaseJudgeTest {
  static final Instant NOW = Instant.ofEpochMilli(1_795_000_000_000L);
  static final AdapterRelease V3 = Releases.next(Optional.empty(), "default", 3,
      ReleaseDecision.MANUAL, "by hand", Map.of("eval_loss", 1.0), NOW);

  private final AtomicInteger lookups = new AtomicInteger();

  private ReleaseSource releases(Optional<AdapterRelease> current) {
    return adapter -> {
      lookups.incrementAndGet();
      return current;
    };
  }

  private static TrainerSettings settings(TrainerSettings.ReleasePolicy policy) {
    return TrainerServiceTest.settings().toBuilder().set(TrainerConfig.RELEASE_POLICY, policy)
        .build();
  }

  private static AdapterSlot slot(TrainerSettings s) {
    return new AdapterSlot("default", s.lora(), new StepBookkeeping(10, 0, 8, NOW), null);
  }

  @Test
  void manualReleasesNothingAndReadsNoRelease() {
    TrainerSettings s = settings(TrainerSettings.ReleasePolicy.MANUAL);
    try (AdapterTraining training = AdapterTraining.open(s, NDManager.newBaseManager())) {
      ReleaseJudge judge = new ReleaseJudge(s, releases(Optional.of(V3)), null, training,
          TrainerServiceTest.IDENTITY, List.of());
      ReleaseJudge.Judgement j = judge.judge(slot(s), 4, List.of(), 2.0, Double.NaN, NOW);
      assertThat(j.release()).isNull();
      assertThat(j.verdict().reason()).isEqualTo(ReleaseGate.Reason.MANUAL_POLICY);
      assertThat(lookups).hasValue(0);
    }
  }

  @Test
  void everyCandidateIsReleasedOverTheCurrentReleaseUnchecked() {
    TrainerSettings s = settings(TrainerSettings.ReleasePolicy.EVERY_CANDIDATE);
    try (AdapterTraining training = AdapterTraining.open(s, NDManager.newBaseManager())) {
      ReleaseJudge judge = new ReleaseJudge(s, releases(Optional.of(V3)), null, training,
          TrainerServiceTest.IDENTITY, List.of());
      ReleaseJudge.Judgement j = judge.judge(slot(s), 4, List.of(), 99.0, Double.NaN, NOW);
      assertThat(j.verdict().reason()).isEqualTo(ReleaseGate.Reason.UNGATED);
      assertThat(j.release().getVersion()).isEqualTo(4);
      assertThat(j.release().getReplaces()).isEqualTo(3);
      assertThat(j.release().getDecision()).isEqualTo(ReleaseDecision.UNGATED);
      assertThat(j.release().getHistory()).singleElement()
          .satisfies(p -> assertThat(p.getVersion()).isEqualTo(3));
    }
  }

  /**
   * Before the first release a fresh adapter is compared with the base model: the same weights
   * with every B zero, hence the same losses, which the gate passes; the base model's retention
   * loss is computed once and kept while no release exists.
   */
  @Test
  void theGateComparesTheFirstCandidateWithTheBaseModelAndKeepsThatBaseline() {
    TrainerSettings s = settings(TrainerSettings.ReleasePolicy.GATE);
    try (AdapterTraining training = AdapterTraining.open(s, NDManager.newBaseManager())) {
      List<Batch.Example> held = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        held.add(Batch.Example.of(TrainerServiceTest.example("h" + i, i).getInputIds(),
            TrainerServiceTest.example("h" + i, i).getLabels()));
      }
      ReleaseJudge judge = new ReleaseJudge(s, releases(Optional.empty()), null, training,
          TrainerServiceTest.IDENTITY, held);
      AdapterSlot slot = slot(s);
      double loss = training.evalLoss(held);
      ReleaseJudge.Judgement j = judge.judge(slot, 1, held, loss, loss, NOW);
      assertThat(j.verdict().reason()).isEqualTo(ReleaseGate.Reason.PASSED);
      assertThat(j.verdict().metrics()).containsEntry("baseline_eval_loss", loss)
          .containsEntry("baseline_retention_loss", loss);
      assertThat(j.release().getDecision()).isEqualTo(ReleaseDecision.GATE_PASSED);
      assertThat(j.release().getReplaces()).isNull();
      ReleaseJudge.Baseline base = slot.baseline;
      assertThat(base.version()).isZero();
      ReleaseJudge.Judgement worse = judge.judge(slot, 2, held, loss + 1, loss, NOW);
      assertThat(slot.baseline).as("cached while nothing is released").isSameAs(base);
      assertThat(worse.release()).isNull();
      assertThat(worse.verdict().reason()).isEqualTo(ReleaseGate.Reason.EVAL_REGRESSED);
    }
  }
}
