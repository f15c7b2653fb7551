package io.continualsft.trainer.lora;

import ai.djl.ndarray.NDArray;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.continualsft.trainer.safetensors.Safetensors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A LoRA adapter in PEFT's directory layout: {@code adapter_config.json} and {@code
 * adapter_model.safetensors} (F32, metadata {@code {"format": "pt"}}), loadable by
 * {@code PeftModel.from_pretrained} and by vLLM's runtime LoRA loading.
 */
public record PeftAdapter(LoraSettings settings, String baseModel, Map<String, float[]> weights,
    Map<String, long[]> shapes) {
  public static final String CONFIG_FILE = "adapter_config.json";
  public static final String WEIGHTS_FILE = "adapter_model.safetensors";
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Snapshots the model's current adapter (values copied off the device). */
  public static PeftAdapter of(LoraSettings settings, String baseModel,
      Map<String, NDArray> parameters) {
    Map<String, float[]> weights = new LinkedHashMap<>();
    Map<String, long[]> shapes = new LinkedHashMap<>();
    parameters.forEach((key, array) -> {
      weights.put(key, array.toFloatArray());
      shapes.put(key, array.getShape().getShape());
    });
    return new PeftAdapter(settings, baseModel, weights, shapes);
  }

  public void write(Path dir) {
    try {
      Files.createDirectories(dir);
      Files.write(dir.resolve(CONFIG_FILE), configBytes());
    } catch (IOException e) {
      throw new UncheckedIOException("could not write " + dir.resolve(CONFIG_FILE), e);
    }
    Safetensors.write(dir.resolve(WEIGHTS_FILE), tensors(), Map.of("format", "pt"));
  }

  /** {@value #CONFIG_FILE} as {@link #write(Path)} writes it. */
  public byte[] configBytes() {
    try {
      return (JSON.writerWithDefaultPrettyPrinter().writeValueAsString(configJson()) + "\n")
          .getBytes(StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e); // a tree of strings and numbers always serialises
    }
  }

  /** {@value #WEIGHTS_FILE} as {@link #write(Path)} writes it. */
  public byte[] weightsBytes() {
    return Safetensors.toBytes(tensors(), Map.of("format", "pt"));
  }

  private List<Safetensors.Tensor> tensors() {
    List<Safetensors.Tensor> tensors = new ArrayList<>();
    weights.forEach((key, values) -> tensors.add(new Safetensors.Tensor(key, shapes.get(key), values)));
    return tensors;
  }

  /** adapter_config.json as PEFT writes it for LoRA on a causal LM. */
  public ObjectNode configJson() {
    ObjectNode c = JSON.createObjectNode();
    c.putObject("alpha_pattern");
    c.put("base_model_name_or_path", baseModel);
    c.put("bias", "none");
    c.put("fan_in_fan_out", false);
    c.put("inference_mode", true);
    c.put("init_lora_weights", true);
    c.putNull("layers_pattern");
    c.putNull("layers_to_transform");
    c.put("lora_alpha", settings.alpha());
    c.put("lora_dropout", settings.dropout());
    c.putNull("modules_to_save");
    c.put("peft_type", "LORA");
    c.put("r", settings.r());
    c.putObject("rank_pattern");
    c.putNull("revision");
    var targets = c.putArray("target_modules");
    settings.targetModules().forEach(targets::add);
    c.put("task_type", "CAUSAL_LM");
    c.put("use_dora", false);
    c.put("use_rslora", settings.useRslora());
    return c;
  }

  /**
   * Reads a PEFT adapter directory. Features this trainer does not implement (DoRA, bias
   * training, per-module ranks, layer subsets) are refused by name rather than loaded wrongly.
   */
  public static PeftAdapter read(Path dir) {
    Path configFile = dir.resolve(CONFIG_FILE);
    byte[] config;
    try {
      config = Files.readAllBytes(configFile);
    } catch (IOException e) {
      throw new IllegalArgumentException(configFile + ": " + (Files.exists(configFile)
          ? "not readable: " + e.getMessage() : "missing"), e);
    }
    return parse(config, configFile.toString(), () -> Safetensors.open(dir.resolve(WEIGHTS_FILE)));
  }

  /** The adapter in a checkpoint's files, in memory; errors name {@code where}. */
  public static PeftAdapter fromBytes(byte[] config, byte[] weights, String where) {
    return parse(config, where + " " + CONFIG_FILE,
        () -> Safetensors.read(where + " " + WEIGHTS_FILE, weights));
  }

  /** The configuration is checked first, so a refused feature is named before the weights. */
  private static PeftAdapter parse(byte[] config, String configName,
      java.util.function.Supplier<Safetensors.Reader> weightsFile) {
    JsonNode c;
    try {
      c = JSON.readTree(config);
    } catch (IOException e) {
      throw new IllegalArgumentException(configName + ": not readable JSON: " + e.getMessage(), e);
    }
    String type = c.path("peft_type").asText("");
    if (!type.equals("LORA")) {
      throw new IllegalArgumentException(configName + ": peft_type '" + type + "' is not LORA");
    }
    refuse(configName, c.path("use_dora").asBoolean(false), "use_dora=true");
    refuse(configName, !c.path("bias").asText("none").equals("none"), "bias=" + c.path("bias").asText());
    refuse(configName, c.path("fan_in_fan_out").asBoolean(false), "fan_in_fan_out=true");
    refuse(configName, c.hasNonNull("layers_to_transform"), "layers_to_transform");
    refuse(configName, c.path("rank_pattern").size() > 0, "rank_pattern");
    refuse(configName, c.path("alpha_pattern").size() > 0, "alpha_pattern");
    List<String> targets = new ArrayList<>();
    JsonNode t = c.path("target_modules");
    if (t.isTextual()) {
      targets.add(t.asText());
    } else {
      t.forEach(n -> targets.add(n.asText()));
    }
    LoraSettings settings;
    try {
      settings = new LoraSettings(c.path("r").asInt(0), c.path("lora_alpha").asDouble(0),
          c.path("lora_dropout").asDouble(0), targets, c.path("use_rslora").asBoolean(false));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(configName + ": " + e.getMessage(), e);
    }
    Map<String, float[]> weights = new LinkedHashMap<>();
    Map<String, long[]> shapes = new LinkedHashMap<>();
    try (Safetensors.Reader reader = weightsFile.get()) {
      for (Safetensors.TensorInfo info : reader.tensors().values()) {
        String key = info.name().replace(".lora_A.default.weight", ".lora_A.weight")
            .replace(".lora_B.default.weight", ".lora_B.weight");
        try {
          PeftKeys.fromKey(key);
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException(reader.name() + ": " + e.getMessage(), e);
        }
        weights.put(key, reader.readFloats(info.name()));
        shapes.put(key, info.shape());
      }
    }
    return new PeftAdapter(settings, c.path("base_model_name_or_path").asText(""), weights, shapes);
  }

  private static void refuse(String file, boolean present, String feature) {
    if (present) {
      throw new IllegalArgumentException(file + ": " + feature + " is not supported by this trainer");
    }
  }
}
