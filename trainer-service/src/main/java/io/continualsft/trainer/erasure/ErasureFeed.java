package io.continualsft.trainer.erasure;

import io.continualsft.avro.ErasureRequest;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * The erasure requests topic as the trainer reads it: from its start, every request once, in
 * partition order; what does not decode is skipped (a request must be readable to be honoured,
 * and {@code forget} writes only readable ones).
 */
public interface ErasureFeed extends AutoCloseable {
  /** Every request on the topic now (blocks until the topic is read to its end). */
  List<ErasureRequest> readToEnd();

  /** The requests that arrived since the last call; does not wait. */
  List<ErasureRequest> poll();

  /**
   * How far the topic is read: the sum over its partitions of the next offset, which only grows
   * (compaction removes records, never offsets); -1 when the feed has no offsets (a test's).
   */
  default long position() {
    return -1;
  }

  @Override
  default void close() {}

  /** No erasure topic: nothing is ever erased. */
  static ErasureFeed none() {
    return new ErasureFeed() {
      @Override
      public List<ErasureRequest> readToEnd() {
        return List.of();
      }

      @Override
      public List<ErasureRequest> poll() {
        return List.of();
      }
    };
  }

  /**
   * {@code topic} through {@code consumer} (no group, read_committed, values decoded or null),
   * waiting up to {@code patience} for the topic's end at start.
   */
  static ErasureFeed of(Consumer<String, ErasureRequest> consumer, String topic,
      Duration patience) {
    return new ErasureFeed() {
      private boolean assigned;
      private Instant nextLook = Instant.MIN;

      /** Whether the topic is there (looked for again every minute while it is not). */
      private boolean assign() {
        if (assigned || Instant.now().isBefore(nextLook)) {
          return assigned;
        }
        var partitions = consumer.partitionsFor(topic, patience);
        if (partitions == null || partitions.isEmpty()) {
          if (nextLook == Instant.MIN) {
            org.slf4j.LoggerFactory.getLogger(ErasureFeed.class).warn("the erasure requests"
                + " topic {} does not exist: no request can be honoured until it does; create"
                + " it (cleanup.policy=compact), or set erasure.topic to the one in use", topic);
          }
          nextLook = Instant.now().plusSeconds(60);
          return false;
        }
        List<TopicPartition> tps = partitions.stream()
            .map(p -> new TopicPartition(topic, p.partition())).toList();
        consumer.assign(tps);
        consumer.seekToBeginning(tps);
        assigned = true;
        return true;
      }

      @Override
      public List<ErasureRequest> readToEnd() {
        List<ErasureRequest> out = new ArrayList<>();
        if (!assign()) {
          return out;
        }
        Map<TopicPartition, Long> end = consumer.endOffsets(consumer.assignment());
        Instant deadline = Instant.now().plus(patience);
        while (end.entrySet().stream().anyMatch(e -> consumer.position(e.getKey()) < e.getValue())) {
          if (Instant.now().isAfter(deadline)) {
            throw new IllegalStateException("could not read the erasure requests topic " + topic
                + " to its end within " + patience + "; is the broker reachable?");
          }
          collect(Duration.ofMillis(200), out);
        }
        return out;
      }

      /** The decoded requests of one poll into {@code out} (what does not decode is null). */
      private void collect(Duration timeout, List<ErasureRequest> out) {
        for (ConsumerRecord<String, ErasureRequest> r : consumer.poll(timeout)) {
          if (r.value() != null) {
            out.add(r.value());
          }
        }
      }

      @Override
      public List<ErasureRequest> poll() {
        List<ErasureRequest> out = new ArrayList<>();
        if (!assign()) {
          return out;
        }
        collect(Duration.ZERO, out);
        return out;
      }

      @Override
      public long position() {
        if (!assigned) {
          return 0;
        }
        long sum = 0;
        for (TopicPartition tp : consumer.assignment()) {
          sum += consumer.position(tp);
        }
        return sum;
      }

      @Override
      public void close() {
        consumer.close(Duration.ofSeconds(5));
      }
    };
  }
}
