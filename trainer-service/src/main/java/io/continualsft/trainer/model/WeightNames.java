package io.continualsft.trainer.model;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/** The Hugging Face names and shapes of a Llama-family checkpoint's tensors. */
public final class WeightNames {
  private WeightNames() {}

  /** [out, in] of a block's linear module. */
  public static long[] linearShape(ModelConfig c, String module) {
    return switch (module) {
      case "q_proj" -> new long[] {c.qDim(), c.hiddenSize()};
      case "k_proj", "v_proj" -> new long[] {c.kvDim(), c.hiddenSize()};
      case "o_proj" -> new long[] {c.hiddenSize(), c.qDim()};
      case "gate_proj", "up_proj" -> new long[] {c.intermediateSize(), c.hiddenSize()};
      case "down_proj" -> new long[] {c.hiddenSize(), c.intermediateSize()};
      default -> throw new IllegalArgumentException("unknown module " + module);
    };
  }

  /** Every tensor the config calls for, with its shape, in a stable order. */
  public static Map<String, long[]> expected(ModelConfig c) {
    Map<String, long[]> out = new LinkedHashMap<>();
    out.put("model.embed_tokens.weight", new long[] {c.vocabSize(), c.hiddenSize()});
    for (int i = 0; i < c.numLayers(); i++) {
      String p = "model.layers." + i + ".";
      out.put(p + "input_layernorm.weight", new long[] {c.hiddenSize()});
      for (String module : LinearModules.ALL) {
        long[] shape = linearShape(c, module);
        out.put(p + LinearModules.block(module) + "." + module + ".weight", shape);
        if (c.attentionBias() && LinearModules.hasBias(module)) {
          out.put(p + LinearModules.block(module) + "." + module + ".bias", new long[] {shape[0]});
        }
      }
      if (c.qkNorm()) {
        out.put(p + "self_attn.q_norm.weight", new long[] {c.headDim()});
        out.put(p + "self_attn.k_norm.weight", new long[] {c.headDim()});
      }
      out.put(p + "post_attention_layernorm.weight", new long[] {c.hiddenSize()});
    }
    out.put("model.norm.weight", new long[] {c.hiddenSize()});
    if (!c.tieWordEmbeddings()) {
      out.put("lm_head.weight", new long[] {c.vocabSize(), c.hiddenSize()});
    }
    return out;
  }

  /**
   * Fails listing every missing and unexpected tensor, or the first shape mismatch with both
   * shapes. Rotary-embedding buffers some older checkpoints carry are not weights and are allowed.
   */
  static void check(ModelConfig c, Map<String, Weight> weights) {
    Map<String, long[]> expected = expected(c);
    TreeSet<String> missing = new TreeSet<>(expected.keySet());
    missing.removeAll(weights.keySet());
    TreeSet<String> unexpected = new TreeSet<>(weights.keySet());
    unexpected.removeAll(expected.keySet());
    unexpected.removeIf(n -> n.endsWith("rotary_emb.inv_freq"));
    if (c.tieWordEmbeddings()) {
      unexpected.remove("lm_head.weight"); // some tied checkpoints still store the copy
    }
    if (!missing.isEmpty() || !unexpected.isEmpty()) {
      throw new IllegalArgumentException("the weights do not match config.json: missing "
          + List.copyOf(missing) + ", unexpected " + List.copyOf(unexpected));
    }
    for (Map.Entry<String, long[]> e : expected.entrySet()) {
      long[] actual = weights.get(e.getKey()).shape();
      if (!Arrays.equals(actual, e.getValue())) {
        throw new IllegalArgumentException("tensor " + e.getKey() + " has shape "
            + Arrays.toString(actual) + " but config.json implies " + Arrays.toString(e.getValue()));
      }
    }
  }
}
