package io.continualsft.trainer.lora;

import io.continualsft.trainer.model.LinearModules;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one mapping between a LoRA parameter and its key in a PEFT {@code adapter_model.safetensors},
 * used both to save and to load: {@code base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight}.
 */
public final class PeftKeys {
  private static final Pattern KEY = Pattern.compile(
      "base_model\\.model\\.model\\.layers\\.(\\d+)\\.(self_attn|mlp)\\.(\\w+_proj)\\.lora_([AB])\\.weight");

  private PeftKeys() {}

  /** Which parameter: layer index, module name (q_proj ...), and A or B. */
  public record LoraParam(int layer, String module, char matrix) {
    public LoraParam {
      LinearModules.requireKnown(module);
      if (matrix != 'A' && matrix != 'B') {
        throw new IllegalArgumentException("matrix must be A or B");
      }
    }
  }

  public static String toKey(LoraParam p) {
    return "base_model.model.model.layers." + p.layer() + "." + LinearModules.block(p.module())
        + "." + p.module() + ".lora_" + p.matrix() + ".weight";
  }

  /** The parameter a key names; an error naming the key when it is not a LoRA weight we know. */
  public static LoraParam fromKey(String key) {
    Matcher m = KEY.matcher(key);
    if (!m.matches()) {
      throw new IllegalArgumentException("not a PEFT LoRA weight key: " + key);
    }
    String module = m.group(3);
    String block = m.group(2);
    if (!LinearModules.ALL.contains(module)) {
      throw new IllegalArgumentException("unknown module " + module + ": " + key);
    }
    if (!block.equals(LinearModules.block(module))) {
      throw new IllegalArgumentException("module " + module + " is not in " + block + ": " + key);
    }
    return new LoraParam(Integer.parseInt(m.group(1)), module, m.group(4).charAt(0));
  }
}
