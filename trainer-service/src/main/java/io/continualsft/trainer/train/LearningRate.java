package io.continualsft.trainer.train;

/**
 * Linear warm-up to the peak rate, then constant (suited to an endless stream) or cosine decay to
 * {@code minRatio} of the peak over {@code decaySteps}.
 */
public record LearningRate(double peak, int warmupSteps, boolean cosine, int decaySteps,
    double minRatio) {
  /** The rate for optimizer step {@code step} (1-based). */
  public double at(long step) {
    if (warmupSteps > 0 && step <= warmupSteps) {
      return peak * step / warmupSteps;
    }
    if (!cosine) {
      return peak;
    }
    double progress = Math.min(1.0, (double) (step - warmupSteps) / Math.max(1, decaySteps));
    double factor = minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * progress));
    return peak * factor;
  }
}
