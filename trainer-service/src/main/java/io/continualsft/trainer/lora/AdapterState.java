package io.continualsft.trainer.lora;

import java.util.Map;

/**
 * Everything that is one adapter's on a shared base model: its settings and weights (PEFT keys
 * to values), its optimizer moments (torch's names: {@code <key>.exp_avg}, {@code
 * .exp_avg_sq}), the step counter (which seeds each step's dropout) and the optimizer's own step
 * count. What a checkpoint restores, and what a trainer of many adapters parks beside the model
 * while another is trained: the copies are exact, so an adapter parked and brought back
 * continues bit for bit.
 */
public record AdapterState(LoraSettings settings, Map<String, float[]> weights,
    Map<String, float[]> moments, long step, long optimizerSteps) {

  /** Bytes held: weights and moments, 4 bytes a value. */
  public long bytes() {
    long values = 0;
    for (float[] w : weights.values()) {
      values += w.length;
    }
    for (float[] m : moments.values()) {
      values += m.length;
    }
    return 4 * values;
  }
}
