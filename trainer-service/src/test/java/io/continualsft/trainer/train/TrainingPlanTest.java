package io.continualsft.trainer.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.ModelConfig;
import io.continualsft.trainer.model.Precision;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The automatic choices at the sizes people adapt and at a toy size: micro-batches sized to the
 * activation memory, recomputation only for micro-batches beyond it. Exact numbers: they follow
 * from the model's shape alone, so a restarted trainer repeats them.
 */
class TrainingPlanTest {
  /** Qwen2.5-0.5B's shape: 24 layers of hidden 896, intermediate 4864, 14 heads. */
  static final ModelConfig QWEN_05B = ModelConfig.of("qwen2", 151_936, 896, 4864, 24, 14, 2, 64,
      true);
  /** Llama-3.1-8B's shape. */
  static final ModelConfig LLAMA_8B = ModelConfig.of("llama", 128_256, 4096, 14_336, 32, 32, 8,
      128, false);
  /** A 20 M toy. */
  static final ModelConfig TOY = ModelConfig.of("qwen3", 151_669, 128, 384, 4, 4, 2, 32, true);

  /** Settings of bf16 base weights (the allowance is 2 GiB; fp32's 1 GiB is tested apart). */
  static TrainerSettings.Steps steps(int tokenBudget, TrainerSettings.Recompute recompute) {
    return new TrainerSettings.Steps(2048, tokenBudget, false, 2048, 0, "bf16", recompute, 256);
  }

  @Test
  void anAutomaticBudgetFillsTheActivationAllowanceWithinItsBounds() {
    TrainingPlan half = TrainingPlan.of(steps(0, TrainerSettings.Recompute.AUTO), QWEN_05B,
        Device.cpu());
    // 4 bytes x 24 layers x (12·896 + 5·4864 + 14·256) = 3,710,976 bytes a token.
    assertThat(half.activationBytesPerToken()).isEqualTo(4L * 24 * (12 * 896 + 5 * 4864
        + 14 * 256));
    assertThat(half.tokenBudget()).isEqualTo(576); // 2 GiB / 3.71 MB = 578, down to 64s
    assertThat(half.recomputeAboveTokens()).isEqualTo(578);
    TrainingPlan fp32 = TrainingPlan.of(new TrainerSettings.Steps(2048, 0, false, 2048, 0, "fp32",
        TrainerSettings.Recompute.AUTO, 256), QWEN_05B, Device.cpu());
    assertThat(fp32.tokenBudget()).as("1 GiB with FP32 weights: 289 tokens").isEqualTo(256);
    assertThat(fp32.recomputeAboveTokens()).isEqualTo(289);
    assertThat(TrainingPlan.of(steps(0, TrainerSettings.Recompute.AUTO), LLAMA_8B, Device.cpu())
        .tokenBudget()).as("at least 256 tokens; such micro-batches recompute").isEqualTo(256);
    assertThat(TrainingPlan.of(steps(0, TrainerSettings.Recompute.AUTO), TOY, Device.cpu())
        .tokenBudget()).as("at most 2048").isEqualTo(2048);
  }

  @Test
  void autoRecomputesOnlyMicroBatchesBeyondTheActivationMemory() {
    TrainingPlan plan = TrainingPlan.of(steps(4096, TrainerSettings.Recompute.AUTO), QWEN_05B,
        Device.cpu());
    assertThat(plan.tokenBudget()).isEqualTo(4096);
    var forward = plan.forward();
    assertThat(forward.recomputes(batch(9, 64))).as("576 tokens").isFalse();
    assertThat(forward.recomputes(batch(1, 2048))).as("a long example alone").isTrue();
    assertThat(forward.recomputes(batch(64, 64))).as("4096 tokens").isTrue();
    assertThat(plan.describe()).contains("micro-batches of 4096 tokens (as configured)")
        .contains("recomputation auto, for micro-batches of more than 578 tokens");

    assertThat(TrainingPlan.of(steps(4096, TrainerSettings.Recompute.ON), QWEN_05B,
        Device.cpu()).forward().recomputes(batch(1, 1))).isTrue();
    assertThat(TrainingPlan.of(steps(4096, TrainerSettings.Recompute.OFF), QWEN_05B,
        Device.cpu()).forward().recomputes(batch(64, 64))).isFalse();
    assertThat(TrainingPlan.of(steps(0, TrainerSettings.Recompute.AUTO), TOY, Device.cpu())
        .describe()).contains("none here, the largest has 2048");
  }

  @Test
  void theBaseWeightsTakeTheirPrecisionsBytes() {
    TrainerSettings.Steps bf16 = new TrainerSettings.Steps(2048, 0, false, 2048, 0, "bf16",
        TrainerSettings.Recompute.AUTO, 256);
    TrainingPlan plan = TrainingPlan.of(bf16, QWEN_05B, Device.cpu());
    assertThat(plan.precision().precision()).isEqualTo(Precision.BF16);
    assertThat(plan.weightBytes()).isEqualTo(2 * QWEN_05B.parameterCount());
    assertThat(QWEN_05B.parameterCount()).isEqualTo(494_032_768L);
  }

  static Batch batch(int rows, int length) {
    List<List<Batch.Example>> all = new ArrayList<>();
    for (int r = 0; r < rows; r++) {
      all.add(List.of(TokenBudgetBatcherTest.example(r + 1, length)));
    }
    return Batch.packed(all, 0);
  }
}
