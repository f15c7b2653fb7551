package io.continualsft.trainer.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.Map;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

/**
 * The hand-written AdamW against torch.optim.AdamW (weight decay 0.1, three steps at three
 * learning rates; src/test/fixtures-gen/torch_adamw.py), parameters and moments within 1e-6, and
 * a restore from saved moments continuing exactly.
 */
class AdamWParityTest {
  @Test
  void matchesTorchAndResumesFromItsState() throws Exception {
    JsonNode ref = new ObjectMapper().readTree(Path.of("src/test/resources/parity/adamw.json").toFile());
    try (NDManager m = NDManager.newBaseManager()) {
      NDArray p = m.create(floats(ref.get("initial")), new Shape(2, 3));
      AdamW adam = new AdamW(m, 0.9, 0.999, 1e-8, 0.1);
      for (int step = 0; step < 3; step++) {
        NDArray g = m.create(floats(ref.get("grads").get(step)), new Shape(2, 3));
        adam.step(Map.of("w", p), Map.of("w", g), ref.get("lrs").get(step).asDouble());
        assertClose(p.toFloatArray(), floats(ref.get("after").get(step)));
        if (step == 1) { // save and restore into a fresh optimizer: the last step must match too
          Map<String, float[]> state = adam.state();
          adam = new AdamW(m, 0.9, 0.999, 1e-8, 0.1);
          adam.restore(state, Map.of("w", p), 2);
        }
      }
      Map<String, float[]> state = adam.state();
      assertClose(state.get("w.exp_avg"), floats(ref.get("exp_avg")));
      assertClose(state.get("w.exp_avg_sq"), floats(ref.get("exp_avg_sq")));
    }
  }

  private static void assertClose(float[] actual, float[] expected) {
    assertThat(actual).hasSameSizeAs(expected);
    for (int i = 0; i < actual.length; i++) {
      assertThat(actual[i]).isCloseTo(expected[i], Offset.offset(1e-6f));
    }
  }

  private static float[] floats(JsonNode array) {
    float[] out = new float[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = (float) array.get(i).asDouble();
    }
    return out;
  }
}
