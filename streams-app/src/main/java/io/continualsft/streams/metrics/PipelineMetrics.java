package io.continualsft.streams.metrics;

import io.continualsft.avro.RejectionReason;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.EnumMap;
import java.util.Map;

/**
 * The streams app's own meters. Prometheus names: {@code sft_conversations_accepted_total},
 * {@code sft_conversations_rejected_total{reason}}, {@code sft_conversations_duplicates_total},
 * {@code sft_example_rendered_chars}, {@code sft_example_tokens},
 * {@code sft_example_trained_fraction}, {@code sft_conversation_processing_seconds}.
 */
public final class PipelineMetrics {
  private final Counter accepted;
  private final Counter tombstones;
  private final Counter duplicates;
  private final Counter truncated;
  private final Map<RejectionReason, Counter> rejected = new EnumMap<>(RejectionReason.class);
  private final DistributionSummary renderedChars;
  private final DistributionSummary tokens;
  private final DistributionSummary trainedFraction;
  private final Timer processing;
  private final FeedbackMetrics feedback;

  public PipelineMetrics(MeterRegistry registry) {
    accepted = Counter.builder("sft.conversations.accepted")
        .description("Conversations turned into training examples").register(registry);
    tombstones = Counter.builder("sft.conversations.tombstones")
        .description("Tombstones read (an erasure's purge deleting a conversation by key):"
            + " skipped").register(registry);
    duplicates = Counter.builder("sft.conversations.duplicates")
        .description("Conversations dropped as repeats of an id seen within the dedup window")
        .register(registry);
    truncated = Counter.builder("sft.examples.truncated")
        .description("Examples cut at max-length (truncation keep-start)").register(registry);
    for (RejectionReason reason : RejectionReason.values()) {
      rejected.put(reason, Counter.builder("sft.conversations.rejected")
          .description("Conversations sent to the dead-letter topic, by reason")
          .tag("reason", reason.name()).register(registry));
    }
    renderedChars = DistributionSummary.builder("sft.example.rendered.chars")
        .description("Characters of the chat-template render").baseUnit("chars")
        .publishPercentiles(0.5, 0.95, 0.99).register(registry);
    tokens = DistributionSummary.builder("sft.example.tokens")
        .description("Tokens per example").baseUnit("tokens")
        .publishPercentiles(0.5, 0.95, 0.99).register(registry);
    trainedFraction = DistributionSummary.builder("sft.example.trained.fraction")
        .description("Fraction of an example's tokens that are trained (label != -100)")
        .publishPercentiles(0.5).register(registry);
    processing = Timer.builder("sft.conversation.processing")
        .description("Time to validate, render, tokenize and label one conversation")
        .publishPercentiles(0.5, 0.95, 0.99).register(registry);
    feedback = new FeedbackMetrics(registry);
  }

  /** The feedback join's meters (registered whether or not the join runs, at zero). */
  public FeedbackMetrics feedback() {
    return feedback;
  }

  public void accepted(int renderedChars, int tokenCount, int trainedTokens, boolean wasTruncated) {
    accepted.increment();
    this.renderedChars.record(renderedChars);
    tokens.record(tokenCount);
    trainedFraction.record(tokenCount == 0 ? 0 : (double) trainedTokens / tokenCount);
    if (wasTruncated) {
      truncated.increment();
    }
  }

  public void rejected(RejectionReason reason) {
    rejected.get(reason).increment();
  }

  public void tombstone() {
    tombstones.increment();
  }

  public void duplicate() {
    duplicates.increment();
  }

  public Timer processing() {
    return processing;
  }

  public double acceptedCount() {
    return accepted.count();
  }

  public double duplicateCount() {
    return duplicates.count();
  }

  public double rejectedCount(RejectionReason reason) {
    return rejected.get(reason).count();
  }

  /** Dead letters of every reason. */
  public double rejectedCount() {
    return rejected.values().stream().mapToDouble(Counter::count).sum();
  }
}
