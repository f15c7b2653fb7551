package io.continualsft.trainer.service;

import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The partitions this trainer owns: in each, the next offset to process and how far dead
 * letters were sent; and the offsets its group commits for them.
 *
 * <p>The group's committed offset of a partition is a low-water mark: the smallest offset a
 * trainer taking over must read from so that every record not yet in some adapter's published
 * history is read again. Its metadata ({@value #DEAD_LETTERS_THROUGH}N) says how far dead letters
 * were sent, so a record read again is not dead-lettered twice.
 */
final class PartitionOwnership {
  private static final Logger log = LoggerFactory.getLogger(PartitionOwnership.class);
  /** Committed offset metadata: dead letters of records before this offset were sent. */
  static final String DEAD_LETTERS_THROUGH = "dead-letters-through=";
  private static final Comparator<TopicPartition> ORDER =
      Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition);

  private final Consumer<byte[], byte[]> consumer;
  private final Map<TopicPartition, Long> next = new TreeMap<>(ORDER);
  private final Map<TopicPartition, Long> deadLettersThrough = new HashMap<>();

  PartitionOwnership(Consumer<byte[], byte[]> consumer) {
    this.consumer = consumer;
  }

  /** Where each partition was taken over from: its committed offset, else its beginning. */
  record TakenOver(Map<TopicPartition, OffsetAndMetadata> committed,
      Map<TopicPartition, Long> beginnings) {}

  /**
   * Takes {@code partitions} over from the group's committed offsets (their beginnings where
   * none is committed), seeking the consumer there.
   */
  TakenOver takeOver(Collection<TopicPartition> partitions) {
    Map<TopicPartition, OffsetAndMetadata> committed = committed(partitions);
    Map<TopicPartition, Long> beginnings = consumer.beginningOffsets(partitions);
    for (TopicPartition tp : partitions) {
      OffsetAndMetadata c = committed.get(tp);
      long start = c == null ? beginnings.get(tp) : c.offset();
      next.put(tp, start);
      deadLettersThrough.put(tp, c == null ? start : deadLettersThrough(c, start));
      consumer.seek(tp, start);
    }
    return new TakenOver(committed, beginnings);
  }

  /** {@code partitions} are no longer this trainer's. */
  void release(Collection<TopicPartition> partitions) {
    partitions.forEach(tp -> {
      next.remove(tp);
      deadLettersThrough.remove(tp);
    });
  }

  /** Whether the record at {@code offset} of {@code tp} is this trainer's to process now. */
  boolean isNext(TopicPartition tp, long offset) {
    Long n = next.get(tp);
    return n != null && offset >= n;
  }

  /** The record at {@code offset} of {@code tp} is processed. */
  void processed(TopicPartition tp, long offset) {
    next.put(tp, offset + 1);
  }

  /** Seeks the consumer back to the next record to process, in every owned partition. */
  void seekToNext() {
    next.forEach(consumer::seek);
  }

  /** Moves past what the consumer passed without records (transaction markers). */
  void moveToConsumerPositions() {
    for (TopicPartition tp : next.keySet()) {
      next.put(tp, consumer.position(tp));
    }
  }

  /** The next offset to process, per owned partition, in partition order. */
  Map<TopicPartition, Long> positions() {
    return Collections.unmodifiableMap(next);
  }

  boolean owns(TopicPartition tp) {
    return next.containsKey(tp);
  }

  /** A dead letter was sent for this record already (before a restart or a rebalance). */
  boolean deadLetterSent(TopicPartition tp, long offset) {
    return offset < deadLettersThrough.getOrDefault(tp, Long.MIN_VALUE);
  }

  /** Every pending dead letter was sent, in a transaction that committed. */
  void deadLettersSent() {
    next.forEach(deadLettersThrough::put);
  }

  /** Whether every owned partition is read to its end. */
  boolean caughtUp() {
    if (next.isEmpty()) {
      return false;
    }
    try {
      Map<TopicPartition, Long> end = consumer.endOffsets(next.keySet());
      for (TopicPartition tp : next.keySet()) {
        if (consumer.position(tp) < end.get(tp)) {
          return false;
        }
      }
      return true;
    } catch (org.apache.kafka.common.errors.TimeoutException e) {
      // A partition just taken over whose committed offset an open transaction still holds
      // (its previous owner was killed mid-checkpoint): not caught up, poll on.
      return false;
    }
  }

  /** Records between the next offsets and the end of the owned partitions. */
  long lag() {
    long lag = 0;
    Map<TopicPartition, Long> end = consumer.endOffsets(next.keySet());
    for (TopicPartition tp : next.keySet()) {
      lag += Math.max(0, end.get(tp) - next.get(tp));
    }
    return lag;
  }

  /**
   * Per owned partition, the offset a trainer taking over must read from: the smallest of the
   * next offset and, for each adapter with records not yet in its published history, where they
   * start; with how far dead letters are sent (this transaction's included).
   */
  Map<TopicPartition, OffsetAndMetadata> lowWaterMarks(Collection<AdapterSlot> adapters) {
    Map<TopicPartition, OffsetAndMetadata> out = new LinkedHashMap<>();
    next.forEach((tp, position) -> {
      long low = position;
      for (AdapterSlot slot : adapters) {
        low = Math.min(low, slot.resumeFrom(tp));
      }
      out.put(tp, new OffsetAndMetadata(low, DEAD_LETTERS_THROUGH + position));
    });
    return out;
  }

  /**
   * The group's committed offsets. A read_committed consumer waits for offsets that an open
   * transaction is committing; a trainer killed mid-transaction leaves one open until its
   * transaction.timeout.ms passes, which may be longer than one call's timeout: wait it out.
   */
  private Map<TopicPartition, OffsetAndMetadata> committed(Collection<TopicPartition> partitions) {
    for (int attempt = 1; ; attempt++) {
      try {
        return consumer.committed(new HashSet<>(partitions));
      } catch (org.apache.kafka.common.errors.TimeoutException e) {
        if (attempt == 10) {
          throw e;
        }
        log.warn("the committed offsets of {} are not stable yet (a transaction of a trainer"
            + " that stopped is still open?); waiting (attempt {})", partitions, attempt);
      }
    }
  }

  private static long deadLettersThrough(OffsetAndMetadata committed, long fallback) {
    String m = committed.metadata();
    if (m != null && m.startsWith(DEAD_LETTERS_THROUGH)) {
      try {
        return Long.parseLong(m.substring(DEAD_LETTERS_THROUGH.length()));
      } catch (NumberFormatException e) {
        log.warn("committed offset metadata \"{}\" is not this trainer's; dead letters from {}",
            m, fallback);
      }
    }
    return fallback;
  }
}
