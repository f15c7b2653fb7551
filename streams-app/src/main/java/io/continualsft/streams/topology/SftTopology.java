package io.continualsft.streams.topology;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.SftExample;
import io.continualsft.schemas.AdapterPartitions;
import io.continualsft.schemas.DeadLetters;
import io.continualsft.chat.labels.ExampleLabeler;
import io.continualsft.streams.metrics.PipelineMetrics;
import io.continualsft.avro.Feedback;
import io.continualsft.avro.PreferenceExample;
import io.continualsft.streams.feedback.FeedbackSettings;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.StreamPartitioner;
import org.apache.kafka.streams.state.Stores;

/**
 * conversations ─► [deserialize ─► check ids ─► dedup ─► (wait for feedback) ─► validate,
 * feedback ──────►   render, tokenize, label, check size] ─┬─► examples
 *                                                          ├─► preference examples (feedback)
 *                                                          └─► dead letters
 *
 * <p>Feedback is read only with a feedback policy ({@code train.when} not always); see
 * {@link FeedbackJoin}.
 *
 * <p>Input values are read as raw bytes and deserialized inside the processor, so that a record
 * that is not valid Avro becomes a {@link Rejection} carrying its original bytes, written in the
 * same exactly-once transaction as everything else. Kafka Streams' own dead-letter queue
 * (errors.dead.letter.queue.topic.name) writes the raw record with exception headers instead of
 * our Avro Rejection, which is why it is not used. A schema-registry outage is not a bad record:
 * it is thrown, fails the stream thread, and the record is retried after the thread is replaced.
 */
public final class SftTopology {
  public static final String DEDUP_STORE = "conversation-ids";

  /**
   * The serdes, each bound to its topic here and only here.
   *
   * @param feedback reads the feedback topic; may be null when no feedback is joined
   * @param preferences writes preference examples; may be null when no feedback is joined
   */
  public record SftSerdes(Deserializer<Conversation> conversations, Serde<SftExample> examples,
      Serde<Rejection> rejections, Deserializer<Feedback> feedback,
      Serde<PreferenceExample> preferences) {
    public SftSerdes(Deserializer<Conversation> conversations, Serde<SftExample> examples,
        Serde<Rejection> rejections) {
      this(conversations, examples, rejections, null, null);
    }
  }

  private SftTopology() {}

  /** The partition of an example: its adapter's ({@link AdapterPartitions}). */
  static java.util.Optional<java.util.Set<Integer>> partitionByAdapter(String topic, String key,
      SftExample example, int partitions) {
    return byAdapter(SftExample::getAdapter).partitions(topic, key, example, partitions);
  }

  /**
   * Records of an adapter to that adapter's partition: examples and preference examples alike,
   * so a trainer that owns an adapter's partition owns all of its records.
   */
  static <V> StreamPartitioner<String, V> byAdapter(java.util.function.Function<V, String> adapter) {
    return (topic, key, value, partitions) -> java.util.Optional.of(java.util.Set.of(
        AdapterPartitions.partitionFor(adapter.apply(value), partitions)));
  }

  public static Topology buildTopology(TopologySettings settings, SftSerdes serdes,
      ExampleLabeler examples, PipelineMetrics metrics) {
    StreamsBuilder builder = new StreamsBuilder();
    builder.addStateStore(Stores.windowStoreBuilder(
        Stores.persistentWindowStore(DEDUP_STORE, settings.dedupWindow(), settings.dedupWindow(),
            false),
        Serdes.String(), Serdes.Long()));

    FeedbackSettings feedback = settings.feedback();
    List<String> inputs = new ArrayList<>(List.of(settings.conversationsTopic()));
    List<String> stores = new ArrayList<>(List.of(DEDUP_STORE));
    if (feedback.joins()) {
      // One source for both topics: a task reads partition p of each, so a conversation and its
      // feedback (both keyed by conversation id, equal partition counts) meet in one task.
      inputs.add(feedback.topic());
      builder.addStateStore(Stores.keyValueStoreBuilder(
          Stores.persistentKeyValueStore(FeedbackJoin.STATE_STORE), Serdes.String(),
          Serdes.ByteArray()));
      builder.addStateStore(Stores.keyValueStoreBuilder(
          Stores.persistentKeyValueStore(FeedbackJoin.DEADLINE_STORE), Serdes.Bytes(),
          Serdes.ByteArray()));
      stores.add(FeedbackJoin.STATE_STORE);
      stores.add(FeedbackJoin.DEADLINE_STORE);
      java.util.Objects.requireNonNull(serdes.feedback(), "a feedback deserializer");
      java.util.Objects.requireNonNull(serdes.preferences(), "a preference example serde");
    }
    KStream<byte[], byte[]> raw = builder.stream(inputs,
        Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("read-conversations"));

    // The dead letters and examples a waiting conversation or orphan makes are forwarded from a
    // punctuator, which needs the key-changing Processor API (processValues cannot forward there).
    KStream<byte[], Outcome> outcomes = raw.process(
        () -> new ConversationProcessor(settings, serdes.conversations(), examples, metrics,
            feedback.joins() ? new FeedbackJoin(feedback, serdes.conversations(),
                serdes.feedback(), examples, metrics.feedback(),
                settings.maxRecordBytes() - 4096L) : null),
        Named.as("prepare-examples"), stores.toArray(String[]::new));

    Map<String, KStream<byte[], Outcome>> branches = outcomes
        .split(Named.as("outcome-"))
        .branch((key, outcome) -> outcome instanceof Outcome.Example, Branched.as("example"))
        .branch((key, outcome) -> outcome instanceof Outcome.Rejected, Branched.as("rejected"))
        .branch((key, outcome) -> outcome instanceof Outcome.Preference,
            Branched.as("preference"))
        .noDefaultBranch();

    branches.get("outcome-example")
        .map((key, outcome) -> {
          SftExample example = ((Outcome.Example) outcome).example();
          return KeyValue.pair(example.getConversationId(), example);
        }, Named.as("key-by-conversation-id"))
        // Partitioned by adapter, keyed by conversation: each adapter's examples stay in one
        // partition, in order, and trainers sharing the topic in one consumer group each own
        // the adapters of their partitions.
        .to(settings.examplesTopic(),
            Produced.with(Serdes.String(), serdes.examples()).withName("write-examples")
                .withStreamPartitioner(SftTopology::partitionByAdapter));

    branches.get("outcome-rejected")
        .map((key, outcome) -> KeyValue.pair(DeadLetters.keyBytes(key),
            ((Outcome.Rejected) outcome).rejection()), Named.as("rejection"))
        .to(settings.deadLetterTopic(),
            Produced.with(Serdes.ByteArray(), serdes.rejections()).withName("write-dead-letters"));

    if (feedback.joins()) {
      branches.get("outcome-preference")
          .map((key, outcome) -> {
            PreferenceExample example = ((Outcome.Preference) outcome).example();
            return KeyValue.pair(example.getConversationId(), example);
          }, Named.as("key-preference-by-conversation-id"))
          .to(feedback.preferenceTopic(), Produced.with(Serdes.String(), serdes.preferences())
              .withName("write-preference-examples")
              .withStreamPartitioner(byAdapter(PreferenceExample::getAdapter)));
    }
    return builder.build();
  }
}
