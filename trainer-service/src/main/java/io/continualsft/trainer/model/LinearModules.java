package io.continualsft.trainer.model;

import java.util.List;

/**
 * The linear modules of a Llama-family decoder layer, in Hugging Face's names, and which block
 * each belongs to: the one rule the weight names and the PEFT adapter keys both follow.
 */
public final class LinearModules {
  /** Every linear module of a layer, in PEFT's names (what {@code all-linear} targets). */
  public static final List<String> ALL =
      List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

  private static final List<String> ATTENTION = List.of("q_proj", "k_proj", "v_proj", "o_proj");

  private LinearModules() {}

  /** {@code self_attn} or {@code mlp}: the block that holds {@code module}. */
  public static String block(String module) {
    requireKnown(module);
    return ATTENTION.contains(module) ? "self_attn" : "mlp";
  }

  /** Whether a model with attention biases (Qwen2) gives {@code module} a bias. */
  static boolean hasBias(String module) {
    return module.equals("q_proj") || module.equals("k_proj") || module.equals("v_proj");
  }

  public static void requireKnown(String module) {
    if (!ALL.contains(module)) {
      throw new IllegalArgumentException("unknown module " + module);
    }
  }
}
