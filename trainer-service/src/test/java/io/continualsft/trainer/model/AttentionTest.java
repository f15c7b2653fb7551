package io.continualsft.trainer.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.continualsft.trainer.lora.LoraModel;
import io.continualsft.trainer.lora.LoraSettings;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Attention in query blocks against the dense [B, nh, T, T] computation: the same output and the
 * same gradients for q, k and v, over packed rows of several examples, a row ending in padding,
 * grouped-query heads, and block sizes that split examples anywhere (1 query, a size that leaves
 * a remainder, blocks longer than some examples). Tolerance: 1e-6 of the largest entry (the
 * softmax sums over fewer -inf terms in a different order; nothing else differs).
 */
class AttentionTest {
  static final int HEADS = 4;
  static final int KV_HEADS = 2;
  static final int D = 8;

  /** Three rows of 23 tokens: examples of 5, 11 and 7; one of 23; one of 9 then 14 of padding. */
  static final int[][] SEGMENTS = {
      segments(new int[] {5, 11, 7}, 0), segments(new int[] {23}, 0), segments(new int[] {9}, 14)};

  static int[] segments(int[] lengths, int padding) {
    int total = padding;
    for (int length : lengths) {
      total += length;
    }
    int[] seg = new int[total];
    int t = 0;
    for (int e = 0; e < lengths.length; e++) {
      for (int i = 0; i < lengths[e]; i++) {
        seg[t++] = e + 1;
      }
    }
    return seg; // the rest stays 0: padding
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 4, 7, 16})
  void blocksGiveDenseAttentionsOutputAndGradients(int block) {
    int rows = SEGMENTS.length;
    int time = SEGMENTS[0].length;
    SplittableRandom random = new SplittableRandom(11);
    float[] q = gaussian(random, rows * HEADS * time * D);
    float[] k = gaussian(random, rows * KV_HEADS * time * D);
    float[] v = gaussian(random, rows * KV_HEADS * time * D);
    float[] upstream = gaussian(random, rows * HEADS * time * D);

    Run dense = run(q, k, v, upstream, Integer.MAX_VALUE);
    Run blocked = run(q, k, v, upstream, block);

    assertClose("output", blocked.out, dense.out);
    assertClose("dq", blocked.dq, dense.dq);
    assertClose("dk", blocked.dk, dense.dk);
    assertClose("dv", blocked.dv, dense.dv);
  }

  @ParameterizedTest
  @ValueSource(ints = {3, 8})
  void aModelWithBlockedAttentionGivesTheDenseLossAndLoraGradients(int block) {
    // The llama parity model: grouped-query attention; rows of three, one and two examples.
    Batch batch = Batch.packed(List.of(
        List.of(LlamaModelTest.example(9, 1, 3), LlamaModelTest.example(6, 2, 1),
            LlamaModelTest.example(5, 4, 2)),
        List.of(LlamaModelTest.example(20, 3, 4)),
        List.of(LlamaModelTest.example(4, 5, 0), LlamaModelTest.example(11, 6, 5))), 0);
    try (NDManager params = NDManager.newBaseManager();
        LlamaModel model = ModelLoader.load(TorchParityTest.parity("llama").resolve("model"),
            params.newSubManager())) {
      LoraModel lora = LoraModel.attachFresh(model,
          new LoraSettings(4, 8, 0, List.of("all-linear"), false), 3);
      LlamaModelTest.randomizeB(lora);
      Gradients dense = lossAndGradients(model, lora, batch, SftLoss.Forward.KEEP_ALL, params);
      Gradients blocked = lossAndGradients(model, lora, batch,
          SftLoss.Forward.keepAll(block), params);
      assertThat(blocked.result.tokens()).isEqualTo(dense.result.tokens());
      assertThat(blocked.result.sum()).isCloseTo(dense.result.sum(),
          org.assertj.core.data.Offset.offset(1e-6 * dense.result.sum()));
      SftLossTest.assertGradientsClose(blocked.grads, dense.grads, 1e-6f);
    }
  }

  record Gradients(SftLoss.Result result, java.util.Map<String, float[]> grads) {}

  static Gradients lossAndGradients(LlamaModel model, LoraModel lora, Batch batch,
      SftLoss.Forward forward, NDManager params) {
    try (NDManager step = params.newSubManager()) {
      SftLoss.Result result;
      try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
        result = SftLoss.withGradient(model, batch, step, forward, null);
        gc.backward(result.objective());
      }
      return new Gradients(result, SftLossTest.takeGradients(lora));
    }
  }

  record Run(float[] out, float[] dq, float[] dk, float[] dv) {}

  /** Attention by a plan of {@code block}, and the gradients of sum(out ⊙ upstream). */
  static Run run(float[] q, float[] k, float[] v, float[] upstream, int block) {
    int rows = SEGMENTS.length;
    int time = SEGMENTS[0].length;
    try (NDManager m = NDManager.newBaseManager()) {
      NDArray qa = m.create(q, new Shape(rows, HEADS, time, D));
      NDArray ka = m.create(k, new Shape(rows, KV_HEADS, time, D));
      NDArray va = m.create(v, new Shape(rows, KV_HEADS, time, D));
      for (NDArray a : new NDArray[] {qa, ka, va}) {
        a.setRequiresGradient(true);
      }
      Attention.Plan plan = Attention.plan(SEGMENTS, block, m);
      assertThat(plan.dense()).isEqualTo(block >= time);
      float[] out;
      try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
        NDArray o = Attention.attend(qa, ka, va, plan, HEADS, KV_HEADS, D);
        assertThat(o.getShape()).isEqualTo(new Shape(rows, HEADS, time, D));
        out = o.toFloatArray();
        gc.backward(o.mul(m.create(upstream, o.getShape())).sum());
      }
      return new Run(out, qa.getGradient().toFloatArray(), ka.getGradient().toFloatArray(),
          va.getGradient().toFloatArray());
    }
  }

  static float[] gaussian(SplittableRandom random, int n) {
    float[] out = new float[n];
    for (int i = 0; i < n; i++) {
      out[i] = (float) random.nextGaussian();
    }
    return out;
  }

  static void assertClose(String what, float[] got, float[] ref) {
    assertThat(got).as(what).hasSameSizeAs(ref);
    float scale = TorchParityTest.maxAbs(ref);
    assertThat(scale).as(what).isPositive();
    for (int i = 0; i < ref.length; i++) {
      assertThat(Math.abs(got[i] - ref[i])).as("%s[%d]", what, i)
          .isLessThanOrEqualTo(1e-6f * scale);
    }
  }
}
