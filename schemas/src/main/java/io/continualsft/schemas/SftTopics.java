package io.continualsft.schemas;

import io.continualsft.avro.AdapterRelease;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.Conversation;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.SftExample;
import java.util.List;
import org.apache.avro.Schema;

/**
 * The pipeline's topics: each default name, defined here once, and the record type its values
 * carry. Every name is a default; each service lets its configuration override it.
 */
public final class SftTopics {
  /** Conversations in (Avro {@code Conversation}, key = conversation id). */
  public static final String CONVERSATIONS = "sft.conversations";
  /**
   * Feedback on assistant turns (Avro {@code Feedback}, key = conversation id): as many partitions
   * as {@link #CONVERSATIONS}, since the streams app joins the two by key.
   */
  public static final String FEEDBACK = "sft.feedback";
  /** Labelled examples (Avro {@code SftExample}, key = conversation id). */
  public static final String EXAMPLES = "sft.examples";
  /**
   * Rated assistant turns for a preference objective (Avro {@code PreferenceExample}, key =
   * conversation id, partitioned by adapter as examples are).
   */
  public static final String PREFERENCE_EXAMPLES = "sft.preference-examples";
  /** The streams app's dead letters (Avro {@code Rejection}). */
  public static final String CONVERSATIONS_DLQ = "sft.conversations.dlq";
  /** The trainer's dead letters (Avro {@code Rejection}). */
  public static final String EXAMPLES_DLQ = "sft.examples.dlq";
  /** Adapter checkpoints: chunks and manifests (Avro {@code CheckpointRecord}, key = adapter). */
  public static final String ADAPTER_CHECKPOINTS = "sft.adapter-checkpoints";
  /**
   * Released versions (Avro {@code AdapterRelease}, key = adapter), compacted: the current release
   * of every adapter is kept for ever, each record carrying the history before it.
   */
  public static final String ADAPTER_RELEASES = "sft.adapter-releases";
  /**
   * Erasure requests (Avro {@code ErasureRequest}, key = "conversation:ID" or "subject:S"),
   * compacted: every request is kept for ever, since what it erased must stay erased.
   */
  public static final String ERASURE_REQUESTS = "sft.erasure-requests";

  private SftTopics() {}

  /**
   * A topic and the schema of its values.
   *
   * @param compacted created with cleanup.policy=compact (the latest record per key is kept)
   */
  public record Topic(String name, Schema valueSchema, boolean compacted) {
    public Topic(String name, Schema valueSchema) {
      this(name, valueSchema, false);
    }

    /** The same topic under {@code name + suffix} (a per-run copy on a shared cluster). */
    public Topic withSuffix(String suffix) {
      return new Topic(name + suffix, valueSchema, compacted);
    }
  }

  /** Every topic of the pipeline, in flow order. */
  public static List<Topic> all() {
    return List.of(
        new Topic(CONVERSATIONS, Conversation.getClassSchema()),
        new Topic(FEEDBACK, io.continualsft.avro.Feedback.getClassSchema()),
        new Topic(EXAMPLES, SftExample.getClassSchema()),
        new Topic(PREFERENCE_EXAMPLES, io.continualsft.avro.PreferenceExample.getClassSchema()),
        new Topic(CONVERSATIONS_DLQ, Rejection.getClassSchema()),
        new Topic(EXAMPLES_DLQ, Rejection.getClassSchema()),
        new Topic(ADAPTER_CHECKPOINTS, CheckpointRecord.getClassSchema()),
        new Topic(ADAPTER_RELEASES, AdapterRelease.getClassSchema(), true),
        new Topic(ERASURE_REQUESTS, io.continualsft.avro.ErasureRequest.getClassSchema(), true));
  }
}
