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
 */
public record TopologySettings(
    String conversationsTopic,
    String examplesTopic,
    String deadLetterTopic,
    Duration dedupWindow,
    String applicationId) {}
