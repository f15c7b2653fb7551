package io.continualsft.streams.topology;

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
 */
public record TopologySettings(
    String conversationsTopic,
    String examplesTopic,
    String deadLetterTopic,
    Duration dedupWindow,
    String applicationId,
    int maxOriginalBytes) {

  /** Settings with the default cap on copied originals ({@value #DEFAULT_MAX_ORIGINAL_BYTES}). */
  public TopologySettings(String conversationsTopic, String examplesTopic, String deadLetterTopic,
      Duration dedupWindow, String applicationId) {
    this(conversationsTopic, examplesTopic, deadLetterTopic, dedupWindow, applicationId,
        DEFAULT_MAX_ORIGINAL_BYTES);
  }

  public static final int DEFAULT_MAX_ORIGINAL_BYTES = 524_288;
}
