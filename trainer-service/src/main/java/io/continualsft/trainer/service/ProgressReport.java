package io.continualsft.trainer.service;

import io.continualsft.trainer.train.LoraTrainer;
import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;

/**
 * What the trainer tells the person running it, one line each, on standard output (warnings and
 * failures go to the log): progress every few steps with the tokens/s since the last line, each
 * checkpoint and release, each resume, each change of the partitions it owns.
 *
 * <pre>
 * step 12 | examples 96 | 850 tokens/s | loss 3.2140 | grad norm 0.5 | lr 1.00e-04 | lag 120
 * checkpoint v2 | step 40 | examples 115 | tokens 1504 | eval loss 16.1411 | 0 dead letters | 802,225 bytes
 * </pre>
 */
final class ProgressReport {
  private final PrintStream out;
  private long tokens;
  private Instant since;

  ProgressReport(Instant now) {
    this(System.out, now);
  }

  ProgressReport(PrintStream out, Instant now) {
    this.out = out;
    this.since = now;
  }

  /** Tokens trained since the last progress line. */
  void add(long trainedTokens) {
    tokens += trainedTokens;
  }

  /** Prints a progress line and returns the tokens/s it shows; the count starts again from now. */
  double step(String prefix, LoraTrainer.StepResult result, long examplesTrained, long lag,
      Instant now) {
    double seconds = Duration.between(since, now).toMillis() / 1000.0;
    double tps = seconds > 0 ? tokens / seconds : 0;
    out.printf("%sstep %d | examples %d | %.0f tokens/s | loss %.4f | grad norm %.4f |"
        + " lr %.2e | lag %d%n", prefix, result.step(), examplesTrained, tps, result.loss(),
        result.gradNorm(), result.learningRate(), lag);
    tokens = 0;
    since = now;
    return tps;
  }

  void checkpoint(String prefix, long version, long step, long examples, long tokens,
      double evalLoss, int deadLetters, long bytes) {
    out.printf("%scheckpoint v%d | step %d | examples %d | tokens %d | eval loss %.4f |"
        + " %d dead letters | %,d bytes%n", prefix, version, step, examples, tokens, evalLoss,
        deadLetters, bytes);
  }

  /** {@code replaces}: the version released before, or null. */
  void released(String prefix, long version, Long replaces, String why) {
    out.printf("%sreleased v%d%s: %s%n", prefix, version,
        replaces == null ? "" : " (replaces v" + replaces + ")", why);
  }

  void resumed(String prefix, long version, long step, long examplesTrained) {
    out.printf("%sresumed from checkpoint v%d: step %d, %d examples trained%n", prefix, version,
        step, examplesTrained);
  }

  void assigned(Object partitions, Object from) {
    out.printf("assigned %s (from offsets %s)%n", partitions, from);
  }

  void revoked(Object partitions, int adapters, int checkpointed) {
    out.printf("revoked %s: %d adapters handed over, %d of them checkpointed first%n",
        partitions, adapters, checkpointed);
  }
}
