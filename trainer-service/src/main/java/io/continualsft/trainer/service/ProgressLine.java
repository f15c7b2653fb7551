package io.continualsft.trainer.service;

import io.continualsft.trainer.train.LoraTrainer;
import java.time.Duration;
import java.time.Instant;

/**
 * The progress line a trainer prints every few steps, with the tokens/s since the last one:
 * {@code step 12 | examples 96 | 850 tokens/s | loss 3.2140 | grad norm 0.5 | lr 1.00e-04 | lag 120}.
 */
final class ProgressLine {
  private long tokens;
  private Instant since;

  ProgressLine(Instant now) {
    this.since = now;
  }

  void add(long trainedTokens) {
    tokens += trainedTokens;
  }

  /** Prints the line and returns the tokens/s it shows; the count starts again from now. */
  double print(LoraTrainer.StepResult result, long examplesTrained, long lag, Instant now) {
    return print("step", result, examplesTrained, lag, now);
  }

  /** As above, the line starting with {@code label} (the adapter's name, then "step"). */
  double print(String label, LoraTrainer.StepResult result, long examplesTrained, long lag,
      Instant now) {
    double seconds = Duration.between(since, now).toMillis() / 1000.0;
    double tps = seconds > 0 ? tokens / seconds : 0;
    System.out.printf("%s %d | examples %d | %.0f tokens/s | loss %.4f | grad norm %.4f |"
        + " lr %.2e | lag %d%n", label, result.step(), examplesTrained, tps, result.loss(),
        result.gradNorm(), result.learningRate(), lag);
    tokens = 0;
    since = now;
    return tps;
  }
}
