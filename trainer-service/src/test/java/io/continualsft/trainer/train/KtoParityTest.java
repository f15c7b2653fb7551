package io.continualsft.trainer.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.continualsft.trainer.lora.LoraModel;
import io.continualsft.trainer.lora.PeftAdapter;
import io.continualsft.trainer.model.LlamaModel;
import io.continualsft.trainer.model.ModelLoader;
import io.continualsft.trainer.model.Precision;
import io.continualsft.trainer.model.SftLoss;
import io.continualsft.trainer.safetensors.Safetensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The KTO loss, its KL estimate, each example's log-probabilities and every LoRA gradient of one
 * step against TRL 1.13's {@code KTOTrainer} on the same model, adapter and batch
 * (src/test/fixtures-gen/trl_kto_reference.py: the qwen3 parity model with its random non-zero
 * adapter on every linear module, five examples, three desirable, β 0.1, λ_D 1.0, λ_U 1.5, the
 * reference the base model with the adapter off). Within 1e-5 relative: the loss, the KL
 * estimate and each log-probability to the reference's magnitude, each gradient entry to its
 * parameter's largest. Run with the layers kept and recomputed, micro-batches of every example
 * together and of one example each: the weights of {@link SftLoss.ExampleWeights} must land on
 * the right examples whatever the batching.
 */
class KtoParityTest {
  static final Path DIR = Path.of("src/test/resources/parity/kto");
  static final Path QWEN3 = Path.of("src/test/resources/parity/qwen3");

  @ParameterizedTest(name = "token budget {0}, recompute {1}")
  @CsvSource({"4096, false", "12, false", "4096, true", "12, true"})
  void lossAndLoraGradientsMatchTrl(int tokenBudget, boolean recompute) throws Exception {
    JsonNode batch = new ObjectMapper().readTree(Files.readString(DIR.resolve("batch.json")));
    List<Kto.Example> examples = new ArrayList<>();
    for (int i = 0; i < batch.get("labels").size(); i++) {
      examples.add(new Kto.Example(ints(batch.get("prompt_ids").get(i)),
          ints(batch.get("completion_ids").get(i)), batch.get("labels").get(i).asBoolean()));
    }
    Kto.Settings settings = new Kto.Settings(batch.get("beta").asDouble(),
        batch.get("desirable_weight").asDouble(), batch.get("undesirable_weight").asDouble());

    Map<String, float[]> gradients = new HashMap<>();
    try (NDManager params = NDManager.newBaseManager();
        LlamaModel model = ModelLoader.load(QWEN3.resolve("model"), params.newSubManager(),
            Precision.FP32);
        Safetensors.Reader expected = Safetensors.open(DIR.resolve("expected.safetensors"))) {
      PeftAdapter adapter = PeftAdapter.read(QWEN3.resolve("adapter"));
      LoraModel lora = LoraModel.attach(model, adapter.settings(), adapter.weights());
      LoraTrainer trainer = new LoraTrainer(model, params,
          new AdamW(params.newSubManager(), 0.9, 0.999, 1e-8, 0),
          new LearningRate(1e-3, 0, false, 0, 0), 0, 1,
          (step, grads) -> grads.forEach((k, g) -> gradients.put(k, g.toFloatArray())),
          recompute ? SftLoss.Forward.recomputeAll(Integer.MAX_VALUE)
              : SftLoss.Forward.KEEP_ALL);
      LoraTrainer.KtoStep step = trainer.trainKto(examples, settings,
          new TokenBudgetBatcher(tokenBudget, 4096, false, 0), lora.parameters());

      assertThat(step.result().applied()).isTrue();
      Kto.Scores s = step.scores();
      System.out.printf("KTO parity (budget %d, recompute %s): loss %.8f (TRL %.8f), kl %.6f"
          + " (TRL %.6f), reward accuracy %.2f%n", tokenBudget, recompute, s.loss(),
          expected.readFloats("loss")[0], s.kl(), expected.readFloats("kl")[0],
          s.rewardAccuracy());
      assertThat(relative(s.loss(), expected.readFloats("loss")[0])).isLessThanOrEqualTo(1e-5);
      assertThat(relative(s.kl(), expected.readFloats("kl")[0])).isLessThanOrEqualTo(1e-5);
      assertClose(s.policyLogps(), expected.readFloats("policy_logps"));
      assertClose(s.referenceLogps(), expected.readFloats("reference_logps"));

      assertThat(gradients.keySet()).isEqualTo(lora.parameters().keySet());
      double worst = 0;
      for (Map.Entry<String, NDArray> p : lora.parameters().entrySet()) {
        float[] ref = expected.readFloats(p.getKey() + ".grad");
        float[] got = gradients.get(p.getKey());
        float scale = 0;
        for (float v : ref) {
          scale = Math.max(scale, Math.abs(v));
        }
        assertThat(scale).as(p.getKey()).isPositive();
        for (int i = 0; i < ref.length; i++) {
          worst = Math.max(worst, Math.abs(got[i] - ref[i]) / scale);
        }
      }
      System.out.printf("KTO parity: worst gradient entry %.2e of its parameter's largest%n",
          worst);
      assertThat(worst).isLessThanOrEqualTo(1e-5);
    }
  }

  private static void assertClose(double[] got, float[] ref) {
    assertThat(got).hasSize(ref.length);
    for (int i = 0; i < ref.length; i++) {
      assertThat(relative(got[i], ref[i])).as("example %d: %s vs %s", i, got[i], ref[i])
          .isLessThanOrEqualTo(1e-5);
    }
  }

  private static double relative(double got, double ref) {
    return Math.abs(got - ref) / Math.max(Math.abs(ref), 1e-12);
  }

  private static int[] ints(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asInt();
    }
    return out;
  }
}
