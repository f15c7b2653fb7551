package io.continualsft.trainer.lora;

import io.continualsft.trainer.model.LinearModules;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * A LoRA configuration, as PEFT's {@code LoraConfig}: rank {@code r}, {@code lora_alpha}, dropout,
 * which linear modules get adapters, and rsLoRA. The update is {@code scaling * B·A·x} with
 * {@code scaling = alpha / r}, or {@code alpha / sqrt(r)} with rsLoRA.
 */
public record LoraSettings(int r, double alpha, double dropout, List<String> targetModules,
    boolean useRslora) {

  /** Every linear module of a Llama-family block, in PEFT's names. */
  public static final List<String> ALL_LINEAR = LinearModules.ALL;

  public LoraSettings {
    if (r < 1) {
      throw new IllegalArgumentException("LoRA r must be >= 1, got " + r);
    }
    if (!(alpha > 0)) {
      throw new IllegalArgumentException("lora_alpha must be > 0, got " + alpha);
    }
    if (dropout < 0 || dropout >= 1) {
      throw new IllegalArgumentException("lora_dropout must be in [0, 1), got " + dropout);
    }
    targetModules = normalize(targetModules);
  }

  /** "all-linear" or a list of module names, validated and sorted. */
  static List<String> normalize(List<String> modules) {
    if (modules == null || modules.isEmpty()) {
      throw new IllegalArgumentException("target_modules is empty");
    }
    Set<String> out = new TreeSet<>();
    for (String m : modules) {
      if (m.equals("all-linear")) {
        out.addAll(ALL_LINEAR);
      } else if (ALL_LINEAR.contains(m)) {
        out.add(m);
      } else {
        throw new IllegalArgumentException("target module '" + m + "' is not one of "
            + ALL_LINEAR + " or all-linear");
      }
    }
    return List.copyOf(new ArrayList<>(out));
  }

  public double scaling() {
    return useRslora ? alpha / Math.sqrt(r) : alpha / r;
  }

  public boolean targets(String module) {
    return targetModules.contains(module);
  }
}
