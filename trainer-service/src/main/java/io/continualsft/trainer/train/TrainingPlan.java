package io.continualsft.trainer.train;

import ai.djl.Device;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.model.ModelConfig;
import io.continualsft.trainer.model.Precision;
import io.continualsft.trainer.model.SftLoss;
import java.util.Locale;

/**
 * How a trainer computes, decided once at start from its settings, the model's shape and the
 * device: the base weights' precision, whether layers are recomputed in backward, and the
 * attention block. A function of those alone (never of free memory or load), so a trainer
 * restarted on the same kind of machine decides the same and resumes bit for bit.
 *
 * @param activationBytes what one micro-batch's activations would take, kept for backward
 * @param weightBytes what the base weights take in {@code precision}
 */
public record TrainingPlan(Precision.Choice precision, boolean recompute, int attentionBlock,
    long activationBytes, long weightBytes, String recomputeWhy) {

  /**
   * Where recomputation pays: past this much activation memory a micro-batch would take more
   * than a typical trainer's whole budget for the base weights and the optimizer together, and
   * recomputing (a third more compute) is the way to fit. Below it, a smaller {@code
   * batch.token-budget} is the cheaper way to save memory. A constant, not the machine's free
   * memory: a restarted trainer must decide the same.
   */
  static final long RECOMPUTE_ABOVE_BYTES = 4L << 30;

  public static TrainingPlan of(TrainerSettings.Steps steps, ModelConfig config,
      Device device) {
    Precision.Choice precision = Precision.resolve(steps.precision(), device);
    long weights = config.parameterCount() * precision.precision().bytesPerValue();
    long activations = activationBytes(config, steps.tokenBudget(),
        Math.min(steps.attentionBlock(), steps.maxLength()));
    boolean recompute;
    String why;
    switch (steps.recompute()) {
      case ON -> {
        recompute = true;
        why = "on (as configured)";
      }
      case OFF -> {
        recompute = false;
        why = "off (as configured)";
      }
      default -> {
        recompute = activations > RECOMPUTE_ABOVE_BYTES;
        why = (recompute ? "on" : "off") + " (auto: a micro-batch's activations ~" + gib(activations)
            + (recompute ? " > " : " <= ") + gib(RECOMPUTE_ABOVE_BYTES) + ")";
      }
    }
    return new TrainingPlan(precision, recompute, steps.attentionBlock(), activations, weights,
        why);
  }

  /**
   * What autograd keeps for backward over {@code tokens} tokens, in FP32: per token and layer
   * the norms' and linear maps' inputs, q, k, v and RoPE's intermediates (about twelve hidden
   * sizes), SwiGLU's five intermediate-size arrays, and the attention scores of one query against
   * at most {@code attentionKeys} keys per head.
   */
  static long activationBytes(ModelConfig c, long tokens, long attentionKeys) {
    long perTokenLayer = 12L * c.hiddenSize() + 5L * c.intermediateSize()
        + (long) c.numHeads() * attentionKeys;
    return 4L * perTokenLayer * tokens * c.numLayers();
  }

  /** How the forward runs. */
  public SftLoss.Forward forward() {
    return new SftLoss.Forward(attentionBlock, recompute);
  }

  /** The start-up line: which path runs, and why. */
  public String describe() {
    return "precision " + precision.why() + "; base weights " + gib(weightBytes) + " in "
        + precision.precision().key() + ", the adapter, its gradients, the loss and AdamW's"
        + " moments in fp32; recomputation " + recomputeWhy + "; attention blocks of "
        + attentionBlock + " queries";
  }

  private static String gib(long bytes) {
    return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
  }
}
