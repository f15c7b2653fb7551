package io.continualsft.trainer.lora;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import io.continualsft.trainer.model.LlamaModel;
import io.continualsft.trainer.model.ModelLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PeftAdapterTest {
  static final Path PARITY = Path.of("src/test/resources/parity");

  @Test
  void anAdapterRoundTripsBitExactly(@TempDir Path dir) throws Exception {
    try (NDManager params = NDManager.newBaseManager();
        LlamaModel model = ModelLoader.load(PARITY.resolve("qwen3/model"), params.newSubManager())) {
      LoraModel lora = LoraModel.attachFresh(model, new LoraSettings(8, 16, 0.05, List.of("q_proj", "v_proj", "down_proj"), true), 11);
      PeftAdapter saved = PeftAdapter.of(lora.settings(), "local/tiny", lora.parameters());
      saved.write(dir.resolve("one"));
      PeftAdapter loaded = PeftAdapter.read(dir.resolve("one"));
      assertThat(loaded.settings()).isEqualTo(saved.settings());
      assertThat(loaded.baseModel()).isEqualTo("local/tiny");
      assertThat(loaded.weights().keySet()).containsExactlyInAnyOrderElementsOf(saved.weights().keySet());
      loaded.weights().forEach((k, v) -> assertThat(v).as(k).containsExactly(saved.weights().get(k)));
      loaded.write(dir.resolve("two"));
      assertThat(Files.readAllBytes(dir.resolve("two/adapter_model.safetensors")))
          .isEqualTo(Files.readAllBytes(dir.resolve("one/adapter_model.safetensors")));
      assertThat(Files.readString(dir.resolve("two/adapter_config.json")))
          .isEqualTo(Files.readString(dir.resolve("one/adapter_config.json")));
    }
  }

  @Test
  void theFilesHavePeftsLayout(@TempDir Path dir) throws Exception {
    try (NDManager params = NDManager.newBaseManager();
        LlamaModel model = ModelLoader.load(PARITY.resolve("llama/model"), params.newSubManager())) {
      LoraModel lora = LoraModel.attachFresh(model, new LoraSettings(4, 8, 0, List.of("q_proj"), false), 1);
      PeftAdapter.of(lora.settings(), "meta-llama/tiny", lora.parameters()).write(dir);
    }
    var config = new com.fasterxml.jackson.databind.ObjectMapper()
        .readTree(Files.readString(dir.resolve("adapter_config.json")));
    assertThat(config.get("peft_type").asText()).isEqualTo("LORA");
    assertThat(config.get("task_type").asText()).isEqualTo("CAUSAL_LM");
    assertThat(config.get("r").asInt()).isEqualTo(4);
    assertThat(config.get("lora_alpha").asDouble()).isEqualTo(8.0);
    assertThat(config.get("bias").asText()).isEqualTo("none");
    assertThat(config.get("use_rslora").asBoolean()).isFalse();
    assertThat(config.get("target_modules").get(0).asText()).isEqualTo("q_proj");
    try (var reader = io.continualsft.trainer.safetensors.Safetensors.open(
        dir.resolve("adapter_model.safetensors"))) {
      assertThat(reader.metadata()).containsExactlyEntriesOf(java.util.Map.of("format", "pt"));
      assertThat(reader.tensors().keySet()).containsExactly(
          "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
          "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
          "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight",
          "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight");
      var a = reader.tensors().get("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
      assertThat(a.dtype()).isEqualTo("F32");
      assertThat(a.shape()).containsExactly(4, 64);
      assertThat(reader.tensors().get("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight")
          .shape()).containsExactly(64, 4);
    }
  }

  @Test
  void peftKeysMapBothWays() {
    for (String module : LoraSettings.ALL_LINEAR) {
      for (char m : new char[] {'A', 'B'}) {
        PeftKeys.LoraParam p = new PeftKeys.LoraParam(17, module, m);
        assertThat(PeftKeys.fromKey(PeftKeys.toKey(p))).isEqualTo(p);
      }
    }
    assertThat(PeftKeys.toKey(new PeftKeys.LoraParam(0, "gate_proj", 'B')))
        .isEqualTo("base_model.model.model.layers.0.mlp.gate_proj.lora_B.weight");
    assertThatThrownBy(() -> PeftKeys.fromKey("base_model.model.model.layers.0.mlp.q_proj.lora_A.weight"))
        .hasMessageContaining("not in mlp");
    assertThatThrownBy(() -> PeftKeys.fromKey("model.layers.0.self_attn.q_proj.weight"))
        .hasMessageContaining("not a PEFT LoRA weight key");
  }

  @Test
  void unsupportedPeftFeaturesAreRefusedByName(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("adapter_config.json"),
        "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\"],"
            + " \"use_dora\": true}");
    assertThatThrownBy(() -> PeftAdapter.read(dir)).hasMessageContaining("use_dora=true");
    Files.writeString(dir.resolve("adapter_config.json"),
        "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"lm_head\"]}");
    assertThatThrownBy(() -> PeftAdapter.read(dir)).hasMessageContaining("lm_head");
    Files.writeString(dir.resolve("adapter_config.json"), "{\"peft_type\": \"IA3\"}");
    assertThatThrownBy(() -> PeftAdapter.read(dir)).hasMessageContaining("peft_type 'IA3'");
  }
}
