package io.continualsft.trainer.report;

import java.util.List;
import java.util.Map;

/**
 * What a run learned, as the report draws it: the training loss and throughput of each step, the
 * eval and retention loss of each checkpoint with the release decision and its reason, new
 * against replayed examples, and dead letters by reason. Written by the local run, {@code train}
 * and {@code report} (from a cluster's topics); {@link RunReportHtml} renders it.
 *
 * @param title what the report is of (an adapter, a file)
 * @param facts lines of context (model, settings, when), shown under the title
 * @param steps one per step, in order (may be empty: the topics keep checkpoints, not steps)
 * @param checkpoints one per checkpoint (or epoch), in order
 * @param deadLetters dead letters (or refused examples) by reason
 */
public record RunReport(String title, List<String> facts, List<Step> steps,
    List<Checkpoint> checkpoints, Map<String, Long> deadLetters) {

  public RunReport {
    facts = List.copyOf(facts);
    steps = List.copyOf(steps);
    checkpoints = List.copyOf(checkpoints);
    deadLetters = Map.copyOf(deadLetters);
  }

  /** One optimizer step: its loss and the trained tokens per second so far. */
  public record Step(long step, double loss, double tokensPerSecond) {}

  /** What happened to a candidate. */
  public enum Decision { RELEASED, REFUSED, HELD, NOT_JUDGED, REVOKED }

  /**
   * One checkpoint (or, for {@code train}, one epoch's end).
   *
   * @param label {@code v3}, or {@code epoch 2}
   * @param step the step it was cut at
   * @param evalLoss the held-out loss (NaN: none)
   * @param retentionLoss the retention set's loss (NaN: none)
   * @param decision what the release policy (or an operator) decided
   * @param reason why, in words (shown on hover)
   * @param examplesTrained new examples trained through it
   * @param examplesReplayed examples drawn back (replay) through it
   */
  public record Checkpoint(String label, long step, double evalLoss, double retentionLoss,
      Decision decision, String reason, long examplesTrained, long examplesReplayed) {}
}
