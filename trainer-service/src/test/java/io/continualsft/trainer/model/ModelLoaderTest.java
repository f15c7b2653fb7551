package io.continualsft.trainer.model;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each malformed model directory fails with a message naming the problem. */
class ModelLoaderTest {
  static final Path LLAMA = Path.of("src/test/resources/parity/llama/model");

  static Path copy(Path dir) throws Exception {
    Files.copy(LLAMA.resolve("config.json"), dir.resolve("config.json"));
    Files.copy(LLAMA.resolve("model.safetensors"), dir.resolve("model.safetensors"));
    return dir;
  }

  static void load(Path dir) {
    try (NDManager m = NDManager.newBaseManager()) {
      ModelLoader.load(dir, m).close();
    }
  }

  @Test
  void missingFiles(@TempDir Path dir) throws Exception {
    assertThatThrownBy(() -> load(dir)).hasMessageContaining("config.json: missing");
    Files.copy(LLAMA.resolve("config.json"), dir.resolve("config.json"));
    assertThatThrownBy(() -> load(dir))
        .hasMessageContaining("no model.safetensors or model.safetensors.index.json");
  }

  @Test
  void unknownModelTypeAndRopeScaling(@TempDir Path dir) throws Exception {
    copy(dir);
    String config = Files.readString(dir.resolve("config.json"));
    Files.writeString(dir.resolve("config.json"), config.replace("\"llama\"", "\"gpt2\""));
    assertThatThrownBy(() -> load(dir)).hasMessageContaining("model_type 'gpt2' is not supported");
    Files.writeString(dir.resolve("config.json"), config.replace("\"rope_theta\"",
        "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}, \"rope_theta\""));
    assertThatThrownBy(() -> load(dir)).hasMessageContaining("rope_scaling type 'yarn'");
  }

  @Test
  void aShapeMismatchNamesTheTensorAndBothShapes(@TempDir Path dir) throws Exception {
    copy(dir);
    String config = Files.readString(dir.resolve("config.json"));
    Files.writeString(dir.resolve("config.json"),
        config.replace("\"intermediate_size\": 112", "\"intermediate_size\": 128"));
    assertThatThrownBy(() -> load(dir))
        .hasMessageContaining("tensor model.layers.0.mlp.gate_proj.weight has shape [112, 64]")
        .hasMessageContaining("config.json implies [128, 64]");
  }

  @Test
  void missingAndUnexpectedTensorsAreListed(@TempDir Path dir) throws Exception {
    copy(dir);
    String config = Files.readString(dir.resolve("config.json"));
    Files.writeString(dir.resolve("config.json"),
        config.replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3"));
    assertThatThrownBy(() -> load(dir))
        .hasMessageContaining("missing [model.layers.2.input_layernorm.weight");
    Files.writeString(dir.resolve("config.json"),
        config.replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1"));
    assertThatThrownBy(() -> load(dir))
        .hasMessageContaining("unexpected [model.layers.1.input_layernorm.weight");
  }

  @Test
  void aTruncatedSafetensorsFileIsNamed(@TempDir Path dir) throws Exception {
    copy(dir);
    byte[] bytes = Files.readAllBytes(dir.resolve("model.safetensors"));
    Files.write(dir.resolve("model.safetensors"), java.util.Arrays.copyOf(bytes, bytes.length / 2));
    assertThatThrownBy(() -> load(dir)).hasMessageContaining("model.safetensors")
        .hasMessageContaining("truncated?");
    Files.write(dir.resolve("model.safetensors"), java.util.Arrays.copyOf(bytes, 5));
    assertThatThrownBy(() -> load(dir)).hasMessageContaining("truncated: 5 bytes");
  }

  @Test
  void shardsAreReadThroughTheIndex(@TempDir Path dir) throws Exception {
    copy(dir);
    Files.move(dir.resolve("model.safetensors"), dir.resolve("model-00001-of-00001.safetensors"),
        StandardCopyOption.REPLACE_EXISTING);
    StringBuilder map = new StringBuilder("{\"weight_map\": {");
    boolean first = true;
    for (String name : WeightNames.expected(ModelConfig.read(dir.resolve("config.json"))).keySet()) {
      map.append(first ? "" : ", ").append('"').append(name)
          .append("\": \"model-00001-of-00001.safetensors\"");
      first = false;
    }
    Files.writeString(dir.resolve("model.safetensors.index.json"), map.append("}}").toString());
    load(dir);
    Files.writeString(dir.resolve("model.safetensors.index.json"),
        "{\"weight_map\": {\"model.norm.weight\": \"model-00002-of-00002.safetensors\"}}");
    assertThatThrownBy(() -> load(dir)).hasMessageContaining("model-00002-of-00002.safetensors: missing");
  }
}
