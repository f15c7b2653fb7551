package io.continualsft.trainer.train;

import ai.djl.Device;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.model.ModelConfig;
import io.continualsft.trainer.model.Precision;
import io.continualsft.trainer.model.SftLoss;
import java.util.Locale;

/**
 * How a trainer computes, decided once at start from its settings, the model's shape and the
 * device: the base weights' precision, the micro-batch token budget, which micro-batches
 * recompute their layers in backward, and the attention block. A function of those alone
 * (never of free memory or load), so a trainer restarted on the same kind of machine decides the
 * same and resumes bit for bit.
 *
 * <p>One number ties the automatic choices together: what a micro-batch's activations kept for
 * backward may take, {@link #ACTIVATION_BYTES} (2 GiB) with half-precision weights and {@link
 * #ACTIVATION_BYTES_FP32} (1 GiB) with FP32 ones. {@code batch.token-budget=auto} sizes
 * micro-batches to it, and {@code train.recompute=auto} recomputes the layers of any micro-batch
 * beyond it (a long example alone, or an explicit budget larger than it).
 *
 * @param tokenBudget the micro-batch token budget, resolved when the setting is auto
 * @param recomputeAboveTokens micro-batches computing more tokens recompute their layers
 * @param activationBytesPerToken what one token's activations take, kept for backward
 * @param weightBytes what the base weights take in {@code precision}
 */
public record TrainingPlan(Precision.Choice precision, int tokenBudget, long recomputeAboveTokens,
    int attentionBlock, long activationBytesPerToken, long weightBytes, String budgetWhy,
    String recomputeWhy) {

  /**
   * A micro-batch's activation memory, in the automatic choices, with half-precision base
   * weights. On a CPU, micro-batches of this size are also the fastest per token at the sizes
   * people adapt: larger ones run their element-wise chains (norms, SwiGLU, the residual) out of
   * cache and fault in fresh pages for every step (a 0.5 B model: 106 trained tokens/s at 512
   * tokens, 83 at 2,048), and smaller ones leave AMX's products waiting on memory (a 1 B Llama
   * lost 12 % going from 448 to 320 tokens). Below it, recomputation's extra third of compute
   * buys nothing. A constant, not the machine's free memory: a restarted trainer must decide the
   * same.
   */
  static final long ACTIVATION_BYTES = 2L << 30;

  /**
   * The same with FP32 base weights. FP32 products are several times slower per token, so a
   * micro-batch's fixed costs are amortised at fewer tokens (the 0.5 B model trained at the same
   * speed at 256, 384 and 576 tokens), while the weights take twice the memory: half the
   * activation memory keeps the peak below TRL's (3.6 GB at 256 tokens against 4.7 at 576).
   */
  static final long ACTIVATION_BYTES_FP32 = 1L << 30;

  /**
   * The automatic budget's bounds: not so small that the matrix products starve; and no larger
   * than a default-length example, past which a small model's step gets no faster (its fixed cost
   * per micro-batch is long amortised) while its memory keeps growing: a 180 M Llama took 3.7 GiB
   * at 4,224 tokens, 2.8 at 2,048, at the same speed.
   */
  static final int MIN_AUTO_BUDGET = 256;
  static final int MAX_AUTO_BUDGET = 2048;

  public static TrainingPlan of(TrainerSettings.Steps steps, ModelConfig config,
      Device device) {
    Precision.Choice precision = Precision.resolve(steps.precision(), device);
    long weights = config.parameterCount() * precision.precision().bytesPerValue();
    long perToken = activationBytesPerToken(config, steps.attentionBlock());
    long allowance = precision.precision() == Precision.FP32 ? ACTIVATION_BYTES_FP32
        : ACTIVATION_BYTES;
    int budget;
    String budgetWhy;
    if (steps.tokenBudget() > 0) {
      budget = steps.tokenBudget();
      budgetWhy = budget + " tokens (as configured)";
    } else {
      budget = (int) Math.max(MIN_AUTO_BUDGET,
          Math.min(MAX_AUTO_BUDGET, allowance / perToken / 64 * 64));
      budgetWhy = budget + " tokens (auto: ~" + mib(perToken) + " of activations a token, "
          + gib(allowance) + " a micro-batch)";
    }
    long recomputeAbove;
    String why;
    switch (steps.recompute()) {
      case ON -> {
        recomputeAbove = 0;
        why = "on (as configured)";
      }
      case OFF -> {
        recomputeAbove = Long.MAX_VALUE;
        why = "off (as configured)";
      }
      default -> {
        recomputeAbove = allowance / perToken;
        long largest = Math.max(budget, steps.maxLength());
        why = "auto, for micro-batches of more than " + recomputeAbove + " tokens ("
            + gib(allowance) + " of activations)" + (largest > recomputeAbove
            ? "" : ": none here, the largest has " + largest);
      }
    }
    return new TrainingPlan(precision, budget, recomputeAbove, steps.attentionBlock(), perToken,
        weights, budgetWhy, why);
  }

  /**
   * What autograd keeps for backward per token, in FP32, over all layers: per layer the norms'
   * and linear maps' inputs, q, k, v and RoPE's intermediates (about twelve hidden sizes),
   * SwiGLU's five intermediate-size arrays, and the attention scores of one query against at
   * most {@code attentionKeys} keys per head.
   */
  static long activationBytesPerToken(ModelConfig c, long attentionKeys) {
    long perLayer = 12L * c.hiddenSize() + 5L * c.intermediateSize()
        + (long) c.numHeads() * attentionKeys;
    return 4L * perLayer * c.numLayers();
  }

  /** How the forward runs. */
  public SftLoss.Forward forward() {
    return new SftLoss.Forward(attentionBlock, recomputeAboveTokens);
  }

  /** The start-up line: which path runs, and why. */
  public String describe() {
    return "precision " + precision.why() + "; base weights " + gib(weightBytes) + " in "
        + precision.precision().key() + ", the adapter, its gradients, the loss and AdamW's"
        + " moments in fp32; micro-batches of " + budgetWhy + "; recomputation " + recomputeWhy
        + "; attention blocks of " + attentionBlock + " queries";
  }

  private static String gib(long bytes) {
    return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
  }

  private static String mib(long bytes) {
    return String.format(Locale.ROOT, "%.2f MiB", bytes / (double) (1L << 20));
  }
}
