package io.continualsft.trainer.train;

import io.continualsft.trainer.config.TrainerSettings;

/**
 * Linear warm-up to the peak rate, then constant (suited to an endless stream) or cosine decay to
 * {@code minRatio} of the peak over {@code decaySteps}.
 */
public record LearningRate(double peak, int warmupSteps, boolean cosine, int decaySteps,
    double minRatio) {
  /** The schedule {@code optimizer} configures; cosine decays to a tenth of the peak. */
  public static LearningRate of(TrainerSettings.Optimizer optimizer) {
    return new LearningRate(optimizer.learningRate(), optimizer.warmupSteps(), optimizer.cosine(),
        optimizer.cosineSteps(), 0.1);
  }

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
