package io.continualsft.trainer.checkpoint;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.BiFunction;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * An adapter's partition of a topic keyed by adapter (checkpoints, releases), searched from its
 * end backwards in growing windows, so that what is wanted near the end (the newest checkpoint,
 * the current release) costs a window's worth of reading however long the topic has run.
 */
public final class AdapterPartition {
  private AdapterPartition() {}

  /**
   * The partition of {@code topic} that {@code adapter}'s records go to.
   *
   * @throws CheckpointLookupException when the topic does not exist
   */
  public static TopicPartition of(Consumer<?, ?> consumer, String topic, String adapter) {
    int partitions = consumer.partitionsFor(topic).size();
    if (partitions == 0) {
      throw new CheckpointLookupException("the topic " + topic + " does not exist (or this"
          + " principal may not describe it)");
    }
    return new TopicPartition(topic, CheckpointLocator.partitionFor(adapter, partitions));
  }

  /**
   * What a search says of a window: found (possibly "none in the whole partition"), or widen,
   * with the offset the next window must start at or before when the search knows it (a
   * manifest says how many chunk records precede it), else {@link Long#MAX_VALUE}.
   */
  public sealed interface Answer<T> {
    record Found<T>(Optional<T> value) implements Answer<T> {}

    record Widen<T>(long startAtMost) implements Answer<T> {}
  }

  /**
   * Reads windows ending at the partition's end, each at least 4 times the last (the first
   * {@code firstWindow} records), assigning and seeking {@code consumer}, and hands each to
   * {@code search} with whether it starts at the partition's beginning. Empty when the whole
   * partition was read without a decision.
   *
   * @throws CheckpointLookupException when a window could not be read within {@code patience}
   */
  public static <V, T> Optional<T> searchBackwards(Consumer<String, V> consumer,
      TopicPartition tp, long firstWindow, Duration patience,
      BiFunction<List<ConsumerRecord<String, V>>, Boolean, Answer<T>> search) {
    consumer.assign(List.of(tp));
    long begin = consumer.beginningOffsets(List.of(tp)).get(tp);
    long end = consumer.endOffsets(List.of(tp)).get(tp);
    long from = Math.max(begin, end - firstWindow);
    List<ConsumerRecord<String, V>> window = read(consumer, tp, from, end, patience);
    while (true) {
      Answer<T> answer = search.apply(window, from == begin);
      if (answer instanceof Answer.Found<T> found) {
        return found.value();
      }
      if (from == begin) {
        return Optional.empty();
      }
      long hint = ((Answer.Widen<T>) answer).startAtMost();
      long wider = Math.max(begin, Math.min(hint, end - 4 * (end - from)));
      // Only what lies before the window is read; the window is kept, not read again.
      List<ConsumerRecord<String, V>> more = read(consumer, tp, wider, from, patience);
      more.addAll(window);
      window = more;
      from = wider;
    }
  }

  /** The records of [from, end), in offset order (values that did not decode are null). */
  static <V> List<ConsumerRecord<String, V>> read(Consumer<String, V> consumer,
      TopicPartition tp, long from, long end, Duration patience) {
    consumer.seek(tp, from);
    List<ConsumerRecord<String, V>> out = new ArrayList<>();
    Instant deadline = Instant.now().plus(patience);
    while (consumer.position(tp) < end) {
      if (!Instant.now().isBefore(deadline)) {
        throw new CheckpointLookupException("could not read " + tp + " from offset " + from
            + " to " + end + " within " + patience + " (reached " + consumer.position(tp)
            + "); is the broker reachable and the topic readable by this principal?");
      }
      for (ConsumerRecord<String, V> r : consumer.poll(Duration.ofMillis(200))) {
        if (r.offset() < end) {
          out.add(r);
        }
      }
    }
    return out;
  }
}
