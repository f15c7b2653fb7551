package io.continualsft.streams.topology;

import io.continualsft.chat.labels.AllowedAdapters;
import io.continualsft.streams.feedback.FeedbackSettings;
import java.time.Duration;

/**
 * The topology's own settings.
 *
 * @param conversationsTopic input: Avro Conversation
 * @param examplesTopic output: Avro SftExample, key = conversation id
 * @param deadLetterTopic output: Avro Rejection, key = the input record's key bytes
 * @param dedupWindow how long a conversation id is remembered to drop repeats
 * @param applicationId written into each Rejection's rejectedBy
 * @param maxOriginalBytes the largest original value a dead letter carries; a larger one stays
 *     only in the input topic, at the offset the dead letter names (Kafka caps record sizes)
 * @param maxRecordBytes the producer's max.request.size: an example whose record would be larger
 *     becomes a RECORD_TOO_LARGE dead letter instead of failing the stream thread
 * @param allowedAdapters which adapters may exist: a conversation of another is dead-lettered
 *     (ADAPTER_NOT_ALLOWED) before it reaches the examples topic
 * @param feedback whether and how feedback is joined to conversations ({@code train.when})
 */
public record TopologySettings(
    String conversationsTopic,
    String examplesTopic,
    String deadLetterTopic,
    Duration dedupWindow,
    String applicationId,
    int maxOriginalBytes,
    int maxRecordBytes,
    AllowedAdapters allowedAdapters,
    FeedbackSettings feedback) {

  public TopologySettings {
    if (io.continualsft.schemas.DeadLetters.maxSize(maxOriginalBytes) > maxRecordBytes) {
      throw new IllegalArgumentException("dead letters carrying originals of up to "
          + maxOriginalBytes + " bytes can be " + io.continualsft.schemas.DeadLetters.maxSize(
              maxOriginalBytes) + " bytes, over the producer's max.request.size of "
          + maxRecordBytes + "; lower dead-letters.max-original-bytes or raise"
          + " producer.max.request.size");
    }
    java.util.Objects.requireNonNull(allowedAdapters, "allowedAdapters");
    java.util.Objects.requireNonNull(feedback, "feedback");
  }

  /** Settings without feedback ({@code train.when=always}). */
  public TopologySettings(String conversationsTopic, String examplesTopic, String deadLetterTopic,
      Duration dedupWindow, String applicationId, int maxOriginalBytes, int maxRecordBytes,
      AllowedAdapters allowedAdapters) {
    this(conversationsTopic, examplesTopic, deadLetterTopic, dedupWindow, applicationId,
        maxOriginalBytes, maxRecordBytes, allowedAdapters, FeedbackSettings.OFF);
  }

  public TopologySettings withFeedback(FeedbackSettings settings) {
    return new TopologySettings(conversationsTopic, examplesTopic, deadLetterTopic, dedupWindow,
        applicationId, maxOriginalBytes, maxRecordBytes, allowedAdapters, settings);
  }

  /** Settings that allow every adapter. */
  public TopologySettings(String conversationsTopic, String examplesTopic, String deadLetterTopic,
      Duration dedupWindow, String applicationId, int maxOriginalBytes, int maxRecordBytes) {
    this(conversationsTopic, examplesTopic, deadLetterTopic, dedupWindow, applicationId,
        maxOriginalBytes, maxRecordBytes, AllowedAdapters.ANY);
  }

  /** Settings with the default caps ({@value #DEFAULT_MAX_ORIGINAL_BYTES}, Kafka's 1 MiB). */
  public TopologySettings(String conversationsTopic, String examplesTopic, String deadLetterTopic,
      Duration dedupWindow, String applicationId) {
    this(conversationsTopic, examplesTopic, deadLetterTopic, dedupWindow, applicationId,
        DEFAULT_MAX_ORIGINAL_BYTES, DEFAULT_MAX_RECORD_BYTES);
  }

  public static final int DEFAULT_MAX_ORIGINAL_BYTES = 524_288;
  /** Kafka's default max.request.size. */
  public static final int DEFAULT_MAX_RECORD_BYTES = 1_048_576;
}
