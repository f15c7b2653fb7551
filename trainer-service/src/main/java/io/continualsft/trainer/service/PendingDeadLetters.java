package io.continualsft.trainer.service;

import io.continualsft.avro.Rejection;
import io.continualsft.avro.RejectionReason;
import io.continualsft.schemas.DeadLetters;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The dead letters since the last checkpoint. They are sent in the checkpoint's transaction, so a
 * dead letter is published exactly when the offset past its record is committed. Bounded: an
 * original over {@link #MAX_ORIGINAL_BYTES} is referenced by offset rather than copied, and when
 * {@link #full()} the trainer cuts a checkpoint to send them, so a stream of bad records costs at
 * most {@link #MAX_PENDING_BYTES} of heap.
 */
final class PendingDeadLetters {
  static final int MAX_ORIGINAL_BYTES = 524_288;
  static final int MAX_PENDING = 1_000;
  static final long MAX_PENDING_BYTES = 16L * 1024 * 1024;

  private final String topic;
  private final String rejectedBy;
  private final List<ProducerRecord<String, Object>> pending = new ArrayList<>();
  private final List<org.apache.kafka.common.TopicPartition> sources = new ArrayList<>();
  private long bytes;

  PendingDeadLetters(String topic, String rejectedBy) {
    this.topic = topic;
    this.rejectedBy = rejectedBy;
  }

  void add(ConsumerRecord<byte[], byte[]> record, RejectionReason reason, String detail,
      Instant at) {
    Rejection rejection = DeadLetters.rejection(reason, detail, rejectedBy,
        new DeadLetters.Source(record.topic(), record.partition(), record.offset(), record.key(),
            record.value()),
        at, MAX_ORIGINAL_BYTES);
    pending.add(new ProducerRecord<>(topic, DeadLetters.key(record.key()), rejection));
    sources.add(new org.apache.kafka.common.TopicPartition(record.topic(), record.partition()));
    bytes += DeadLetters.approximateSize(rejection);
  }

  /**
   * Forgets the dead letters of records from {@code lost} partitions: they were never committed,
   * and the partitions' next owner reads those records again and sends them itself.
   */
  void forget(java.util.Collection<org.apache.kafka.common.TopicPartition> lost) {
    for (int i = pending.size() - 1; i >= 0; i--) {
      if (lost.contains(sources.get(i))) {
        bytes -= DeadLetters.approximateSize((io.continualsft.avro.Rejection) pending.get(i).value());
        pending.remove(i);
        sources.remove(i);
      }
    }
  }

  /** Whether the dead letters should be sent now rather than at the next scheduled checkpoint. */
  boolean full() {
    return pending.size() >= MAX_PENDING || bytes >= MAX_PENDING_BYTES;
  }

  int size() {
    return pending.size();
  }

  /** The dead letters to send, in order. */
  List<ProducerRecord<String, Object>> records() {
    return List.copyOf(pending);
  }

  /** After the transaction that carried them committed. */
  void clear() {
    pending.clear();
    sources.clear();
    bytes = 0;
  }
}
