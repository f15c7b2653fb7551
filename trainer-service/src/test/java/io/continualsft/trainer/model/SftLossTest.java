package io.continualsft.trainer.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.continualsft.chat.labels.LabelContract;
import io.continualsft.trainer.lora.LoraModel;
import io.continualsft.trainer.lora.LoraSettings;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Offset;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The chunked loss, whose gradient is computed outside autograd, against the textbook one on the
 * tape: full logits, log-softmax, gather, backward. Same losses, same LoRA gradients, whatever
 * the chunk size (1 row, a size that leaves a remainder, all rows at once).
 */
class SftLossTest {
  @ParameterizedTest
  @ValueSource(ints = {1, 4, 1000})
  void chunkedLossAndGradientMatchAutogradThroughTheFullLogits(int chunkRows) {
    Batch batch = Batch.packed(List.of(
        List.of(LlamaModelTest.example(9, 1, 3), LlamaModelTest.example(6, 2, 1)),
        List.of(LlamaModelTest.example(12, 3, 4))), 0);
    try (NDManager params = NDManager.newBaseManager();
        LlamaModel model = ModelLoader.load(LlamaModelTest.QWEN3, params.newSubManager())) {
      LoraModel lora = LoraModel.attachFresh(model, new LoraSettings(4, 8, 0, List.of("all-linear"), false), 3);
      LlamaModelTest.randomizeB(lora);

      double referenceSum;
      Map<String, float[]> referenceGrads;
      try (NDManager step = params.newSubManager()) {
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
          NDArray sum = textbookLoss(model, batch, step);
          referenceSum = sum.getFloat();
          gc.backward(sum);
        }
        referenceGrads = takeGradients(lora);
      }

      SftLoss.Result chunked;
      Map<String, float[]> grads;
      try (NDManager step = params.newSubManager()) {
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
          chunked = SftLoss.compute(model, batch, step, true, chunkRows);
          gc.backward(chunked.objective());
        }
        grads = takeGradients(lora);
      }

      assertThat(chunked.tokens()).isEqualTo(6 + 5 + 8);
      assertThat(chunked.sum()).isCloseTo(referenceSum, Offset.offset(1e-5 * referenceSum));
      assertGradientsClose(grads, referenceGrads, 1e-5f);
      try (NDManager step = params.newSubManager()) {
        SftLoss.Result eval = SftLoss.compute(model, batch, step);
        assertThat(eval.objective()).as("no gradient work when evaluating").isNull();
        assertThat(eval.exampleTokens()).containsExactly(chunked.exampleTokens());
        for (int i = 0; i < eval.exampleLoss().length; i++) { // chunk sizes differ: last bits may
          assertThat(eval.exampleLoss()[i]).isCloseTo(chunked.exampleLoss()[i],
              Offset.offset(1e-6 * chunked.exampleLoss()[i]));
        }
      }
    }
  }

  /**
   * Gradient checkpointing changes where activations come from, not what the gradients are:
   * with every layer recomputed in backward, the loss is the same to the bit and each LoRA
   * gradient within 1e-6 of its largest entry of the one through the kept activations (the
   * adapter's gradient accumulates layer by layer instead of in one backward), with dropout on
   * (each layer drawing the same mask in its recomputation), attention dense and blocked, and
   * the loss divided as a step divides it.
   */
  @ParameterizedTest
  @ValueSource(ints = {Integer.MAX_VALUE, 5})
  void recomputedLayersGiveTheGradientsOfKeptActivations(int attentionBlock) {
    Batch batch = Batch.packed(List.of(
        List.of(LlamaModelTest.example(9, 1, 3), LlamaModelTest.example(6, 2, 1)),
        List.of(LlamaModelTest.example(12, 3, 4))), 0);
    java.util.function.IntToLongFunction layerSeeds = layer -> 1_000 + 17L * layer;
    float divisor = 19;
    try (NDManager params = NDManager.newBaseManager();
        LlamaModel model = ModelLoader.load(LlamaModelTest.QWEN3, params.newSubManager())) {
      LoraModel lora = LoraModel.attachFresh(model,
          new LoraSettings(4, 8, 0.25, List.of("all-linear"), false), 3);
      LlamaModelTest.randomizeB(lora);
      model.setTraining(true); // dropout on

      SftLoss.Result kept;
      Map<String, float[]> keptGrads;
      try (NDManager step = params.newSubManager()) {
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
          kept = SftLoss.withGradient(model, batch, step,
              SftLoss.Forward.keepAll(attentionBlock), layerSeeds);
          gc.backward(kept.objective().div(step.create(divisor)));
        }
        keptGrads = takeGradients(lora);
      }
      SftLoss.Result recomputed;
      Map<String, float[]> recomputedGrads;
      try (NDManager step = params.newSubManager()) {
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
          recomputed = SftLoss.backwardRecomputed(model, batch, step,
              SftLoss.Forward.recomputeAll(attentionBlock), layerSeeds, gc, divisor);
        }
        recomputedGrads = takeGradients(lora);
      }
      Map<String, float[]> noDropout;
      model.setTraining(false);
      try (NDManager step = params.newSubManager()) {
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
          gc.backward(SftLoss.withGradient(model, batch, step).objective()
              .div(step.create(divisor)));
        }
        noDropout = takeGradients(lora);
      }

      assertThat(recomputed.objective()).as("backpropagated already").isNull();
      assertThat(recomputed.sum()).isEqualTo(kept.sum());
      assertThat(recomputed.exampleLoss()).containsExactly(kept.exampleLoss());
      assertGradientsClose(recomputedGrads, keptGrads, 1e-6f);
      assertThat(noDropout.get("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"))
          .as("dropout did act").isNotEqualTo(
              keptGrads.get("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
    }
  }

  /** Sum of -log softmax(logits)[target] over the trained targets, all on the tape. */
  private static NDArray textbookLoss(LlamaModel model, Batch batch, NDManager step) {
    NDArray logProbs = model.logits(batch.ids(step), batch.positions(step), batch.segments(step))
        .logSoftmax(-1); // [B, T, V]
    List<Long> flat = new ArrayList<>();
    List<Long> targets = new ArrayList<>();
    for (int b = 0; b < batch.rows(); b++) {
      for (int t = 0; t < batch.time(); t++) {
        int target = SftLoss.target(batch, b, t);
        if (LabelContract.isTrained(target)) {
          flat.add((long) b * batch.time() + t);
          targets.add((long) target);
        }
      }
    }
    NDArray rows = logProbs.reshape(-1, model.config().vocabSize())
        .get(new ai.djl.ndarray.index.NDIndex("{}",
            step.create(flat.stream().mapToLong(Long::longValue).toArray())));
    return rows.gather(step.create(targets.stream().mapToLong(Long::longValue).toArray(),
        new Shape(targets.size(), 1)), 1).neg().sum();
  }

  /**
   * The same parameters, and each gradient entry within {@code relative} of its parameter's
   * largest reference entry (which must not be zero: a gradient that vanished proves nothing).
   */
  static void assertGradientsClose(Map<String, float[]> got, Map<String, float[]> reference,
      float relative) {
    assertThat(got.keySet()).containsExactlyElementsOf(reference.keySet());
    reference.forEach((name, ref) -> {
      float scale = TorchParityTest.maxAbs(ref);
      assertThat(scale).as(name).isPositive();
      float[] values = got.get(name);
      for (int i = 0; i < ref.length; i++) {
        assertThat(Math.abs(values[i] - ref[i])).as("%s[%d]", name, i)
            .isLessThanOrEqualTo(relative * scale);
      }
    });
  }

  static Map<String, float[]> takeGradients(LoraModel lora) {
    Map<String, float[]> out = new LinkedHashMap<>();
    lora.parameters().forEach((name, p) -> {
      NDArray g = p.getGradient();
      out.put(name, g.toFloatArray());
      try (NDArray zero = g.getManager().create(0f)) {
        g.set(new ai.djl.ndarray.index.NDIndex(":"), zero);
      }
      g.close();
    });
    return out;
  }
}
