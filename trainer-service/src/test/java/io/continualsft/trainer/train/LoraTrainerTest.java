package io.continualsft.trainer.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.continualsft.chat.labels.LabelContract;
import io.continualsft.trainer.lora.LoraModel;
import io.continualsft.trainer.lora.LoraSettings;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.LlamaModel;
import io.continualsft.trainer.model.ModelLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Steps on the parity model: a non-finite one is skipped; none depends on the garbage collector. */
class LoraTrainerTest {
  private static final Path QWEN3 = Path.of("src/test/resources/parity/qwen3/model");

  private static List<Batch.Example> examples() {
    List<Batch.Example> out = new ArrayList<>();
    for (int e = 0; e < 3; e++) {
      int[] ids = new int[8];
      int[] labels = new int[8];
      for (int i = 0; i < 8; i++) {
        ids[i] = (i * 31 + e * 17) % 96;
        labels[i] = i >= 3 ? ids[i] : LabelContract.IGNORE_INDEX;
      }
      out.add(new Batch.Example(ids, labels));
    }
    return out;
  }

  /** Steps 1 and 2 of a fresh trainer whose gradients are made NaN on the calls listed. */
  private static List<LoraTrainer.StepResult> twoSteps(List<Integer> nanCalls,
      List<float[]> adapterAfter) {
    return steps(2, nanCalls, adapterAfter);
  }

  private static List<LoraTrainer.StepResult> steps(int count, List<Integer> nanCalls,
      List<float[]> adapterAfter) {
    Map<Long, Integer> calls = new HashMap<>();
    int[] call = {0};
    try (NDManager params = NDManager.newBaseManager();
        LlamaModel model = ModelLoader.load(QWEN3, params.newSubManager())) {
      LoraModel lora = LoraModel.attachFresh(model, new LoraSettings(4, 8, 0.1, List.of("all-linear"), false), 5);
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
      for (int i = 0; i < count; i++) {
        results.add(trainer.train(batcher.plan(examples()), lora.parameters()));
      }
      lora.parameters().values().forEach(p -> adapterAfter.add(p.toFloatArray()));
      return results;
    }
  }

  /**
   * The regression test of a use-after-free: DJL's {@code x.mul(2f)} builds the operand over a
   * Java direct buffer and closes it at once, while autograd keeps it for backward; with the
   * garbage collector busy, backward read freed memory and every gradient came out NaN (every
   * step of a probe with allocation churn, against 1 in several hundred without). Scalars in
   * the graph are now tensors of the step. With the collector churning, every step must be
   * finite at the first computation and the adapter bit-identical to a quiet run's.
   */
  @Test
  void gradientsDoNotDependOnTheGarbageCollector() throws Exception {
    List<float[]> quiet = new ArrayList<>();
    List<LoraTrainer.StepResult> quietSteps = steps(12, List.of(), quiet);
    java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
    Thread churn = new Thread(() -> {
      List<Object> keep = new ArrayList<>();
      for (long i = 0; !stop.get(); i++) {
        keep.add(java.nio.ByteBuffer.allocateDirect(256 * 1024));
        keep.add(new byte[64 * 1024]);
        if (keep.size() > 200) {
          keep.clear();
        }
        if (i % 200 == 0) {
          System.gc();
        }
      }
    }, "gc-churn");
    churn.start();
    List<float[]> churned = new ArrayList<>();
    List<LoraTrainer.StepResult> churnedSteps;
    try {
      churnedSteps = steps(12, List.of(), churned);
    } finally {
      stop.set(true);
      churn.join();
    }
    assertThat(churnedSteps).allMatch(LoraTrainer.StepResult::applied);
    for (int i = 0; i < quietSteps.size(); i++) {
      assertThat(churnedSteps.get(i).loss()).isEqualTo(quietSteps.get(i).loss());
      assertThat(churnedSteps.get(i).gradNorm()).isEqualTo(quietSteps.get(i).gradNorm());
    }
    for (int i = 0; i < quiet.size(); i++) {
      assertThat(churned.get(i)).containsExactly(quiet.get(i));
    }
  }

  @Test
  void aNonFiniteStepIsSkippedLeavingTheAdapterAsItWasAndTheNextOneRuns() {
    List<float[]> untrained = new ArrayList<>();
    steps(0, List.of(), untrained);
    List<float[]> adapter = new ArrayList<>();
    List<LoraTrainer.StepResult> skipped = steps(1, List.of(1), adapter);
    assertThat(skipped.get(0).applied()).isFalse();
    assertThat(skipped.get(0).step()).isEqualTo(1);
    assertThat(skipped.get(0).nonFiniteGradients()).isNotEmpty();
    for (int i = 0; i < untrained.size(); i++) {
      assertThat(adapter.get(i)).containsExactly(untrained.get(i));
    }

    List<float[]> after = new ArrayList<>();
    List<LoraTrainer.StepResult> results = twoSteps(List.of(1), after);
    assertThat(results.get(1).applied()).isTrue();
    assertThat(results.get(1).step()).isEqualTo(2);
    after.forEach(w -> {
      for (float v : w) {
        assertThat(Float.isFinite(v)).isTrue();
      }
    });
  }
}
