package io.continualsft.trainer.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/**
 * The decoder's shape, from a Hugging Face {@code config.json} of the Llama family: {@code llama},
 * {@code mistral}, {@code qwen2} (q/k/v biases) and {@code qwen3} (per-head q/k RMSNorm). Anything
 * this decoder does not implement (another model_type, a rope_scaling kind, sliding windows that
 * would change attention) is refused by name, never ignored.
 */
public record ModelConfig(
    String modelType,
    int vocabSize,
    int hiddenSize,
    int intermediateSize,
    int numLayers,
    int numHeads,
    int numKvHeads,
    int headDim,
    double rmsNormEps,
    double ropeTheta,
    boolean tieWordEmbeddings,
    boolean attentionBias,
    boolean qkNorm,
    int maxPositionEmbeddings) {

  public static final Set<String> SUPPORTED = Set.of("llama", "mistral", "qwen2", "qwen3");
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * A new model's shape with each family's conventions: llama (rope theta 500,000), qwen2 (q/k/v
   * biases), qwen3 (per-head q/k norms); RMSNorm eps 1e-6, 32,768 positions.
   */
  public static ModelConfig of(String arch, int vocabSize, int hidden, int intermediate,
      int layers, int heads, int kvHeads, int headDim, boolean tieEmbeddings) {
    if (!arch.equals("llama") && !arch.equals("qwen2") && !arch.equals("qwen3")) {
      throw new IllegalArgumentException("the architecture must be llama, qwen2 or qwen3, got "
          + arch);
    }
    return new ModelConfig(arch, vocabSize, hidden, intermediate, layers, heads, kvHeads, headDim,
        1e-6, arch.equals("llama") ? 500000.0 : 1000000.0, tieEmbeddings, arch.equals("qwen2"),
        arch.equals("qwen3"), 32768);
  }

  /** The number of weights the shape calls for. */
  public long parameterCount() {
    return WeightNames.expected(this).values().stream()
        .mapToLong(shape -> java.util.Arrays.stream(shape).reduce(1, (a, b) -> a * b)).sum();
  }

  public ModelConfig {
    require(hiddenSize > 0 && numLayers > 0 && numHeads > 0 && numKvHeads > 0 && vocabSize > 0
        && intermediateSize > 0 && headDim > 0, "sizes must be positive");
    require(numHeads % numKvHeads == 0, "num_attention_heads (" + numHeads
        + ") must be a multiple of num_key_value_heads (" + numKvHeads + ")");
    require(headDim % 2 == 0, "head_dim must be even for rotary embeddings, got " + headDim);
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException("config.json: " + message);
    }
  }

  public int qDim() {
    return numHeads * headDim;
  }

  public int kvDim() {
    return numKvHeads * headDim;
  }

  public static ModelConfig read(Path file) {
    JsonNode c;
    try {
      c = JSON.readTree(Files.readString(file));
    } catch (IOException e) {
      throw new IllegalArgumentException(file + ": not readable JSON: " + e.getMessage(), e);
    }
    String type = c.path("model_type").asText("");
    if (!SUPPORTED.contains(type)) {
      throw new IllegalArgumentException(file + ": model_type '" + type + "' is not supported;"
          + " supported: " + SUPPORTED);
    }
    JsonNode scaling = c.get("rope_scaling");
    if (scaling != null && !scaling.isNull()) {
      String kind = scaling.path("rope_type").asText(scaling.path("type").asText("?"));
      if (!kind.equals("default")) {
        throw new IllegalArgumentException(file + ": rope_scaling type '" + kind
            + "' is not supported (only unscaled RoPE is implemented)");
      }
    }
    if (c.path("use_sliding_window").asBoolean(false)) {
      throw new IllegalArgumentException(file + ": use_sliding_window=true is not supported");
    }
    if (c.hasNonNull("sliding_window") && type.equals("mistral")
        && c.path("sliding_window").asInt() < c.path("max_position_embeddings").asInt(1 << 30)) {
      throw new IllegalArgumentException(file + ": sliding_window " + c.path("sliding_window").asInt()
          + " shorter than max_position_embeddings is not supported");
    }
    String act = c.path("hidden_act").asText("silu");
    if (!act.equals("silu")) {
      throw new IllegalArgumentException(file + ": hidden_act '" + act + "' is not supported (silu)");
    }
    int hidden = required(file, c, "hidden_size");
    int heads = required(file, c, "num_attention_heads");
    int headDim = c.hasNonNull("head_dim") ? c.get("head_dim").asInt() : hidden / heads;
    boolean bias = type.equals("qwen2") || c.path("attention_bias").asBoolean(false);
    try {
      return new ModelConfig(
          type,
          required(file, c, "vocab_size"),
          hidden,
          required(file, c, "intermediate_size"),
          required(file, c, "num_hidden_layers"),
          heads,
          c.path("num_key_value_heads").asInt(heads),
          headDim,
          c.path("rms_norm_eps").asDouble(1e-6),
          c.path("rope_theta").asDouble(10000.0),
          c.path("tie_word_embeddings").asBoolean(false),
          bias,
          type.equals("qwen3"),
          c.path("max_position_embeddings").asInt(32768));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  private static int required(Path file, JsonNode c, String field) {
    if (!c.hasNonNull(field)) {
      throw new IllegalArgumentException(file + ": field " + field + " is missing");
    }
    return c.get(field).asInt();
  }

  /** The config.json a Hugging Face loader expects for this shape. */
  public ObjectNode toJson() {
    ObjectNode c = JSON.createObjectNode();
    String arch = switch (modelType) {
      case "qwen2" -> "Qwen2ForCausalLM";
      case "qwen3" -> "Qwen3ForCausalLM";
      case "mistral" -> "MistralForCausalLM";
      default -> "LlamaForCausalLM";
    };
    c.putArray("architectures").add(arch);
    c.put("model_type", modelType);
    c.put("vocab_size", vocabSize);
    c.put("hidden_size", hiddenSize);
    c.put("intermediate_size", intermediateSize);
    c.put("num_hidden_layers", numLayers);
    c.put("num_attention_heads", numHeads);
    c.put("num_key_value_heads", numKvHeads);
    c.put("head_dim", headDim);
    c.put("hidden_act", "silu");
    c.put("rms_norm_eps", rmsNormEps);
    c.put("rope_theta", ropeTheta);
    c.put("tie_word_embeddings", tieWordEmbeddings);
    c.put("attention_bias", attentionBias);
    c.put("max_position_embeddings", maxPositionEmbeddings);
    c.put("torch_dtype", "float32");
    return c;
  }
}
