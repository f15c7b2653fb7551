package io.continualsft.trainer.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import io.continualsft.chat.labels.LabelContract;
import io.continualsft.trainer.lora.LoraModel;
import io.continualsft.trainer.lora.LoraSettings;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The model's LoRA and packing guarantees, on the small qwen3 parity model. */
class LlamaModelTest {
  static final Path QWEN3 = Path.of("src/test/resources/parity/qwen3/model");

  static Batch.Example example(int length, int seed, int firstTrained) {
    int[] ids = new int[length];
    int[] labels = new int[length];
    for (int i = 0; i < length; i++) {
      ids[i] = (i * 31 + seed * 17) % 96;
      labels[i] = i >= firstTrained ? ids[i] : LabelContract.IGNORE_INDEX;
    }
    return new Batch.Example(ids, labels);
  }

  @Test
  void aFreshAdapterLeavesTheOutputExactlyUnchanged() {
    Batch batch = Batch.separate(List.of(example(9, 1, 3), example(6, 2, 2)), 0);
    try (NDManager params = NDManager.newBaseManager();
        LlamaModel model = ModelLoader.load(QWEN3, params.newSubManager());
        NDManager step = params.newSubManager()) {
      float[] base = model.logits(batch.ids(step), batch.positions(step), batch.segments(step))
          .toFloatArray();
      LoraModel lora = LoraModel.attachFresh(model, new LoraSettings(8, 16, 0, List.of("all-linear"), false), 42);
      float[] adapted = model.logits(batch.ids(step), batch.positions(step), batch.segments(step))
          .toFloatArray();
      assertThat(adapted).containsExactly(base);
    }
  }

  @Test
  void onlyTheAdapterGetsGradientsAndBStartsAtZero() {
    Batch batch = Batch.separate(List.of(example(9, 1, 3)), 0);
    try (NDManager params = NDManager.newBaseManager();
        LlamaModel model = ModelLoader.load(QWEN3, params.newSubManager());
        NDManager step = params.newSubManager()) {
      LoraModel lora = LoraModel.attachFresh(model, new LoraSettings(4, 8, 0, List.of("q_proj", "v_proj"), false), 7);
      for (var e : lora.parameters().entrySet()) {
        if (e.getKey().contains("lora_B")) {
          assertThat(e.getValue().toFloatArray()).containsOnly(0f);
        } else {
          float bound = (float) (1 / Math.sqrt(64));
          assertThat(TorchParityTest.maxAbs(e.getValue().toFloatArray()))
              .isPositive().isLessThanOrEqualTo(bound);
        }
      }
      try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
        gc.backward(SftLoss.withGradient(model, batch, step).objective());
      }
      for (NDArray w : model.frozenWeights()) {
        assertThat(w.hasGradient()).as("base weight %s", w.getShape()).isFalse();
      }
      // With B = 0 only B receives a signal; A's gradient is exactly zero on the first step.
      for (var e : lora.parameters().entrySet()) {
        float[] grad = e.getValue().getGradient().toFloatArray();
        if (e.getKey().contains("lora_A")) {
          assertThat(grad).containsOnly(0f);
        } else {
          assertThat(TorchParityTest.maxAbs(grad)).isPositive();
        }
      }
    }
  }

  @Test
  void aPackedRowGivesTheSameLossesAsSeparateRows() {
    Batch.Example first = example(9, 1, 3);
    Batch.Example second = example(6, 2, 1);
    try (NDManager params = NDManager.newBaseManager();
        LlamaModel model = ModelLoader.load(QWEN3, params.newSubManager());
        NDManager step = params.newSubManager()) {
      LoraModel lora = LoraModel.attachFresh(model, new LoraSettings(4, 8, 0, List.of("all-linear"), false), 3);
      randomizeB(lora);
      SftLoss.Result separate = SftLoss.compute(model, Batch.separate(List.of(first, second), 0), step);
      SftLoss.Result packed = SftLoss.compute(model, Batch.packed(List.of(List.of(first, second)), 0), step);
      assertThat(packed.tokens()).isEqualTo(separate.tokens()).isEqualTo(6 + 5);
      assertThat(packed.exampleTokens()).containsExactly(separate.exampleTokens());
      for (int i = 0; i < 2; i++) {
        assertThat(packed.exampleLoss()[i]).isCloseTo(separate.exampleLoss()[i],
            org.assertj.core.data.Offset.offset(1e-5 * Math.abs(separate.exampleLoss()[i])));
      }
    }
  }

  @Test
  void cachedDecodingGivesTheSameLogitsAsTheFullForwardPass() {
    int[] ids = example(12, 4, 0).ids();
    try (NDManager params = NDManager.newBaseManager();
        LlamaModel model = ModelLoader.load(QWEN3, params.newSubManager());
        NDManager step = params.newSubManager()) {
      LoraModel lora = LoraModel.attachFresh(model, new LoraSettings(4, 8, 0, List.of("all-linear"), false), 9);
      randomizeB(lora);
      Batch full = Batch.separate(List.of(new Batch.Example(ids, ids)), 0);
      float[] all = model.logits(full.ids(step), full.positions(step), full.segments(step))
          .toFloatArray(); // [1, 12, 96]
      KvCache cache = new KvCache(model.config().numLayers());
      float[] prefill = model.nextLogits(java.util.Arrays.copyOf(ids, 8), cache, step).toFloatArray();
      assertClose(prefill, all, 7);
      for (int t = 8; t < 12; t++) {
        float[] next = model.nextLogits(new int[] {ids[t]}, cache, step).toFloatArray();
        assertClose(next, all, t);
      }
      assertThat(cache.length()).isEqualTo(12);
    }
  }

  private static void assertClose(float[] row, float[] all, int position) {
    for (int v = 0; v < 96; v++) {
      assertThat(row[v]).as("position %d, token %d", position, v)
          .isCloseTo(all[position * 96 + v], org.assertj.core.data.Offset.offset(1e-4f));
    }
  }

  @Test
  void loraDropoutActsOnlyWhileTrainingAndFollowsTheSeed() {
    Batch batch = Batch.separate(List.of(example(9, 1, 3)), 0);
    try (NDManager params = NDManager.newBaseManager();
        LlamaModel model = ModelLoader.load(QWEN3, params.newSubManager());
        NDManager step = params.newSubManager()) {
      LoraModel lora = LoraModel.attachFresh(model, new LoraSettings(4, 8, 0.5, List.of("all-linear"), false), 3);
      randomizeB(lora);
      float[] eval1 = model.logits(batch.ids(step), batch.positions(step), batch.segments(step)).toFloatArray();
      float[] eval2 = model.logits(batch.ids(step), batch.positions(step), batch.segments(step)).toFloatArray();
      assertThat(eval1).containsExactly(eval2);
      model.setTraining(true);
      Engine.getInstance().setRandomSeed(123);
      float[] train1 = model.logits(batch.ids(step), batch.positions(step), batch.segments(step)).toFloatArray();
      Engine.getInstance().setRandomSeed(123);
      float[] train2 = model.logits(batch.ids(step), batch.positions(step), batch.segments(step)).toFloatArray();
      float[] train3 = model.logits(batch.ids(step), batch.positions(step), batch.segments(step)).toFloatArray();
      assertThat(train1).as("same seed, same dropout masks").containsExactly(train2);
      assertThat(train1).isNotEqualTo(eval1);
      assertThat(train3).as("a new draw").isNotEqualTo(train1);
    }
  }

  /** Gives B non-zero values so the adapter actually changes the output. */
  static void randomizeB(LoraModel lora) {
    java.util.Map<String, float[]> values = new java.util.LinkedHashMap<>();
    java.util.SplittableRandom random = new java.util.SplittableRandom(5);
    lora.parameters().forEach((key, array) -> {
      float[] v = array.toFloatArray();
      if (key.contains("lora_B")) {
        for (int i = 0; i < v.length; i++) {
          v[i] = (float) random.nextGaussian() * 0.1f;
        }
      }
      values.put(key, v);
    });
    lora.load(values);
  }
}
