package io.continualsft.streams.feedback;

import java.time.Duration;
import java.util.Objects;

/**
 * How the streams app joins feedback to conversations.
 *
 * @param topic input: Avro Feedback, key = conversation id, as many partitions as the
 *     conversations topic
 * @param policy what feedback decides ({@code train.when}); {@link FeedbackPolicy#ALWAYS} reads
 *     no feedback at all
 * @param window how long a conversation waits for its feedback, and feedback for its
 *     conversation, counted from arrival (wall-clock time, so a quiet stream still moves on)
 * @param maxPerConversation the most feedback events one conversation collects while it waits;
 *     more are dead-lettered, so no producer grows the join state without bound
 * @param preferenceTopic output: Avro PreferenceExample, one per judged turn (and one more per
 *     correction), key = conversation id, partitioned by adapter
 */
public record FeedbackSettings(String topic, FeedbackPolicy policy, Duration window,
    int maxPerConversation, String preferenceTopic) {
  public static final int DEFAULT_MAX_PER_CONVERSATION = 64;

  /** No feedback: today's pipeline. */
  public static final FeedbackSettings OFF = new FeedbackSettings(
      io.continualsft.schemas.SftTopics.FEEDBACK, FeedbackPolicy.ALWAYS, Duration.ofMinutes(10),
      DEFAULT_MAX_PER_CONVERSATION, io.continualsft.schemas.SftTopics.PREFERENCE_EXAMPLES);

  public FeedbackSettings {
    Objects.requireNonNull(topic, "topic");
    Objects.requireNonNull(policy, "policy");
    Objects.requireNonNull(preferenceTopic, "preferenceTopic");
    if (window == null || window.isNegative() || window.isZero()) {
      throw new IllegalArgumentException("feedback.window must be positive, got " + window);
    }
    if (maxPerConversation < 1) {
      throw new IllegalArgumentException("feedback.max-per-conversation must be >= 1, got "
          + maxPerConversation);
    }
  }

  /** Whether the topology reads feedback and holds conversations for it. */
  public boolean joins() {
    return policy != FeedbackPolicy.ALWAYS;
  }
}
