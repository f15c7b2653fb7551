package io.continualsft.trainer.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.continualsft.trainer.lora.LoraSettings;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.LlamaModel;
import io.continualsft.trainer.model.ModelLoader;
import io.continualsft.trainer.model.SftLoss;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A non-finite result is computed once more before the step is skipped, on the parity model. */
class LoraTrainerTest {
  private static final Path QWEN3 = Path.of("src/test/resources/parity/qwen3/model");

  private static List<Batch.Example> examples() {
    List<Batch.Example> out = new ArrayList<>();
    for (int e = 0; e < 3; e++) {
      int[] ids = new int[8];
      int[] labels = new int[8];
      for (int i = 0; i < 8; i++) {
        ids[i] = (i * 31 + e * 17) % 96;
        labels[i] = i >= 3 ? ids[i] : SftLoss.IGNORE_INDEX;
      }
      out.add(new Batch.Example(ids, labels));
    }
    return out;
  }

  /** Steps 1 and 2 of a fresh trainer whose gradients are made NaN on the calls listed. */
  private static List<LoraTrainer.StepResult> twoSteps(List<Integer> nanCalls,
      List<float[]> adapterAfter) {
    Map<Long, Integer> calls = new HashMap<>();
    int[] call = {0};
    try (NDManager params = NDManager.newBaseManager();
        LlamaModel model = ModelLoader.load(QWEN3, params.newSubManager())) {
      model.addLora(new LoraSettings(4, 8, 0.1, List.of("all-linear"), false), 5);
      LoraTrainer trainer = new LoraTrainer(model, params,
          new AdamW(params.newSubManager(), 0.9, 0.999, 1e-8, 0),
          new LearningRate(0.01, 0, false, 0, 0), 1.0, 3, (step, grads) -> {
            calls.merge(step, 1, Integer::sum);
            if (nanCalls.contains(++call[0])) {
              grads.values().forEach(g -> g.muli(Float.NaN));
            }
          });
      TokenBudgetBatcher batcher = new TokenBudgetBatcher(256, 64, false, 0);
      List<LoraTrainer.StepResult> results = new ArrayList<>();
      results.add(trainer.train(batcher.plan(examples())));
      results.add(trainer.train(batcher.plan(examples())));
      model.loraParameters().values().forEach(p -> adapterAfter.add(p.toFloatArray()));
      return results;
    }
  }

  @Test
  void aNonFiniteFirstComputationIsRetriedAndTheStepMatchesAnUndisturbedOne() {
    List<float[]> undisturbed = new ArrayList<>();
    List<LoraTrainer.StepResult> clean = twoSteps(List.of(), undisturbed);
    List<float[]> retried = new ArrayList<>();
    List<LoraTrainer.StepResult> once = twoSteps(List.of(1), retried); // step 1's first call

    assertThat(clean).allMatch(r -> r.applied() && r.attempts() == 1);
    assertThat(once.get(0).applied()).isTrue();
    assertThat(once.get(0).attempts()).isEqualTo(2);
    assertThat(once.get(0).firstAttempt().nonFiniteGradients()).isNotEmpty();
    assertThat(once.get(0).step()).isEqualTo(1);
    assertThat(once.get(1).step()).isEqualTo(2);
    // Same dropout seed, same examples: the retried run is the undisturbed run, bit for bit.
    assertThat(once.get(0).loss()).isEqualTo(clean.get(0).loss());
    assertThat(once.get(1).gradNorm()).isEqualTo(clean.get(1).gradNorm());
    for (int i = 0; i < undisturbed.size(); i++) {
      assertThat(retried.get(i)).containsExactly(undisturbed.get(i));
    }
  }

  @Test
  void aStepNonFiniteTwiceIsSkippedAndTheNextOneStillRuns() {
    List<float[]> adapter = new ArrayList<>();
    List<LoraTrainer.StepResult> results = twoSteps(List.of(1, 2), adapter);
    assertThat(results.get(0).applied()).isFalse();
    assertThat(results.get(0).attempts()).isEqualTo(2);
    assertThat(results.get(0).step()).isEqualTo(1);
    assertThat(results.get(1).applied()).isTrue();
    assertThat(results.get(1).step()).isEqualTo(2);
    adapter.forEach(w -> {
      for (float v : w) {
        assertThat(Float.isFinite(v)).isTrue();
      }
    });
  }
}
