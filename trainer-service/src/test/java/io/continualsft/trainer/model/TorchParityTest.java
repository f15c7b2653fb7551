package io.continualsft.trainer.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.continualsft.trainer.lora.LoraModel;
import io.continualsft.trainer.lora.PeftAdapter;
import io.continualsft.trainer.safetensors.Safetensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Logits, loss and LoRA gradients of three small random models with random non-zero adapters
 * against an independent PyTorch implementation (src/test/fixtures-gen/torch_reference.py, run
 * once with Debian's python3-torch): llama (GQA, BF16 weights), qwen2 (q/k/v biases, F16 weights)
 * and qwen3 (per-head q/k norms, tied embeddings, LoRA on every linear module).
 *
 * <p>Tolerances: loss within 1e-5 relative; logits within 1e-4 of the largest logit; each
 * gradient within 1e-4 of its largest entry (float32 sums in a different order).
 */
class TorchParityTest {
  static final ObjectMapper JSON = new ObjectMapper();

  static Path parity(String arch) {
    return Path.of("src/test/resources/parity", arch);
  }

  @ParameterizedTest
  @ValueSource(strings = {"llama", "qwen2", "qwen3"})
  void logitsLossAndGradientsMatchPyTorch(String arch) throws Exception {
    Path dir = parity(arch);
    JsonNode batchJson = JSON.readTree(Files.readString(dir.resolve("batch.json")));
    List<Batch.Example> examples = new ArrayList<>();
    for (int row = 0; row < 2; row++) {
      int length = batchJson.get("lengths").get(row).asInt();
      int[] ids = new int[length];
      int[] labels = new int[length];
      for (int t = 0; t < length; t++) {
        ids[t] = batchJson.get("input_ids").get(row).get(t).asInt();
        labels[t] = batchJson.get("labels").get(row).get(t).asInt();
      }
      examples.add(new Batch.Example(ids, labels));
    }
    Batch batch = Batch.separate(examples, 0);

    try (NDManager params = NDManager.newBaseManager();
        LlamaModel model = ModelLoader.load(dir.resolve("model"), params.newSubManager());
        Safetensors.Reader expected = Safetensors.open(dir.resolve("expected.safetensors"))) {
      PeftAdapter adapter = PeftAdapter.read(dir.resolve("adapter"));
      LoraModel lora = LoraModel.attach(model, adapter.settings(), adapter.weights());

      try (NDManager step = params.newSubManager()) {
        float[] logits = model.logits(batch.ids(step), batch.positions(step),
            batch.segments(step)).toFloatArray();
        float[] refLogits = expected.readFloats("logits");
        assertThat(logits).hasSameSizeAs(refLogits);
        // Compare only real (non-padding) positions: the reference pads row 2 as well.
        float scale = maxAbs(refLogits);
        float worstLogit = 0;
        for (int b = 0; b < 2; b++) {
          for (int t = 0; t < examples.get(b).ids().length; t++) {
            for (int v = 0; v < 96; v++) {
              int i = (b * 10 + t) * 96 + v;
              assertThat(Math.abs(logits[i] - refLogits[i])).as("logit %d,%d,%d", b, t, v)
                  .isLessThanOrEqualTo(1e-4f * scale);
              worstLogit = Math.max(worstLogit, Math.abs(logits[i] - refLogits[i]) / scale);
            }
          }
        }

        SftLoss.Result loss;
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
          loss = SftLoss.withGradient(model, batch, step);
          gc.backward(loss.objective());
        }
        float refSum = expected.readFloats("loss_sum")[0];
        assertThat(loss.tokens()).isEqualTo((int) expected.readFloats("token_count")[0]);
        assertThat(loss.sum()).isCloseTo(refSum,
            org.assertj.core.data.Offset.offset(1e-5 * Math.abs(refSum)));

        float worstGrad = 0;
        for (Map.Entry<String, NDArray> p : lora.parameters().entrySet()) {
          float[] grad = p.getValue().getGradient().toFloatArray();
          float[] ref = expected.readFloats(p.getKey() + ".grad");
          float gscale = maxAbs(ref);
          assertThat(gscale).as(p.getKey()).isPositive();
          for (int i = 0; i < ref.length; i++) {
            assertThat(Math.abs(grad[i] - ref[i])).as("%s[%d]", p.getKey(), i)
                .isLessThanOrEqualTo(1e-4f * gscale);
            worstGrad = Math.max(worstGrad, Math.abs(grad[i] - ref[i]) / gscale);
          }
        }
        System.out.printf("%s parity: loss rel %.2e, logits max/scale %.2e, grads max/scale %.2e%n",
            arch, Math.abs(loss.sum() - refSum) / Math.abs(refSum), worstLogit, worstGrad);
      }
    }
  }

  static float maxAbs(float[] values) {
    float max = 0;
    for (float v : values) {
      max = Math.max(max, Math.abs(v));
    }
    return max;
  }
}
