package io.continualsft.trainer.service;

import io.continualsft.avro.AdapterRelease;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.RejectionReason;
import io.continualsft.trainer.checkpoint.CheckpointPublisher;
import io.continualsft.trainer.checkpoint.CheckpointSource;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Everything the trainer writes, in transactions fenced by the group's generation: the dead
 * letters since the last commit, a checkpoint's records and its release when it has one, and the
 * group's offsets past all of it ({@link PartitionOwnership#lowWaterMarks}). A dead letter is
 * therefore published exactly when the offset past its record is committed, and a release never
 * points at a checkpoint that is not there.
 */
final class TransactionalCommitter {
  private static final Logger log = LoggerFactory.getLogger(TransactionalCommitter.class);

  private final Producer<String, Object> producer;
  private final Consumer<byte[], byte[]> consumer;
  private final CheckpointPublisher publisher;
  private final PendingDeadLetters deadLetters;
  private final PartitionOwnership ownership;
  private final ResidentAdapters adapters;
  private Map<TopicPartition, OffsetAndMetadata> lastCommitted = Map.of();

  TransactionalCommitter(Producer<String, Object> producer, Consumer<byte[], byte[]> consumer,
      String checkpointTopic, String releasesTopic, String deadLetterTopic, String rejectedBy,
      PartitionOwnership ownership, ResidentAdapters adapters) {
    this.producer = producer;
    this.consumer = consumer;
    this.publisher = new CheckpointPublisher(producer, checkpointTopic, releasesTopic);
    this.deadLetters = new PendingDeadLetters(deadLetterTopic, rejectedBy);
    this.ownership = ownership;
    this.adapters = adapters;
  }

  /**
   * The group's generation moved on while this trainer was busy (a rebalance it joined too late,
   * or a session that expired): its transaction could not commit the offsets and was aborted.
   * Kafka Streams calls this a task migration.
   */
  static final class GroupMovedOn extends RuntimeException {
    GroupMovedOn(Throwable cause) {
      super(cause.getMessage(), cause);
    }

    static boolean causedBy(Throwable e) {
      for (Throwable t = e; t != null; t = t.getCause()) {
        if (t instanceof org.apache.kafka.clients.consumer.CommitFailedException
            || t instanceof org.apache.kafka.common.errors.RebalanceInProgressException
            || t instanceof org.apache.kafka.common.errors.IllegalGenerationException
            || t instanceof org.apache.kafka.common.errors.UnknownMemberIdException) {
          return true;
        }
      }
      return false;
    }
  }

  /**
   * Registers the transactional id (fencing any earlier trainer with the same one), waiting out
   * a broker that is down or restarting: the producer allows initTransactions to be retried
   * after a timeout.
   */
  void initTransactions(BooleanSupplier stop, String transactionalId, String bootstrapServers) {
    for (int attempt = 1; ; attempt++) {
      try {
        producer.initTransactions();
        return;
      } catch (org.apache.kafka.common.errors.TimeoutException e) {
        if (stop.getAsBoolean()) {
          throw e;
        }
        log.warn("no transaction coordinator yet for {} (attempt {}: {}); is the broker at {}"
            + " reachable? retrying", transactionalId, attempt, e.getMessage(), bootstrapServers);
      }
    }
  }

  /**
   * Holds a dead letter for {@code record} until the next transaction; a burst of bad records
   * that fills the buffer brings that transaction forward (no checkpoint is cut for it).
   */
  void deadLetter(ConsumerRecord<byte[], byte[]> record, RejectionReason reason, String detail,
      Instant at) {
    deadLetters.add(record, reason, detail, at);
    if (deadLetters.full()) {
      commitOffsets();
    }
  }

  /** Dead letters waiting for the next transaction. */
  int pendingDeadLetters() {
    return deadLetters.size();
  }

  /**
   * The dead letters, a checkpoint's records, its release (null: not released) and the offsets,
   * in one transaction; where the checkpoint's records went, when the producer says.
   */
  CheckpointSource.Written publish(String adapter, List<CheckpointRecord> records,
      AdapterRelease release) {
    producer.beginTransaction();
    sendDeadLetters();
    CheckpointPublisher.Sent sent = publisher.send(adapter, records);
    if (release != null) {
      publisher.send(release);
    }
    commit();
    return sent.written();
  }

  /**
   * An erasure's rewind: the dead letters, each rewound adapter's new version, the releases that
   * move serving off revoked versions, and the offsets,
   * no higher than {@code floor} where it names a partition, in one transaction.
   */
  void rewind(Map<String, List<CheckpointRecord>> records, List<AdapterRelease> releases,
      Map<TopicPartition, Long> floor) {
    producer.beginTransaction();
    sendDeadLetters();
    records.forEach(publisher::send);
    releases.forEach(publisher::send);
    Map<TopicPartition, OffsetAndMetadata> offsets = new java.util.LinkedHashMap<>();
    ownership.lowWaterMarks(adapters.all()).forEach((tp, o) -> offsets.put(tp,
        floor.containsKey(tp) && floor.get(tp) < o.offset()
            ? new OffsetAndMetadata(floor.get(tp), o.metadata()) : o));
    commit(offsets);
  }

  /** The dead letters and the offsets alone, in a transaction of their own. */
  void commitOffsets() {
    producer.beginTransaction();
    sendDeadLetters();
    commit();
  }

  /** Whether a transaction of offsets alone would commit anything new. */
  boolean offsetsMoved() {
    return deadLetters.size() > 0
        || !ownership.lowWaterMarks(adapters.all()).equals(lastCommitted);
  }

  /** Dead letters of records from {@code lost} partitions: never committed, so dropped. */
  void forgetDeadLetters(Collection<TopicPartition> lost) {
    deadLetters.forget(lost);
  }

  /** After {@link GroupMovedOn}: nothing pending survives, nothing is known committed. */
  void startOver() {
    deadLetters.clear();
    lastCommitted = Map.of();
  }

  private void sendDeadLetters() {
    for (ProducerRecord<String, Object> dl : deadLetters.records()) {
      producer.send(dl);
    }
  }

  private void commit() {
    commit(ownership.lowWaterMarks(adapters.all()));
  }

  private void commit(Map<TopicPartition, OffsetAndMetadata> offsets) {
    try {
      producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
      producer.commitTransaction();
    } catch (KafkaException e) {
      if (!GroupMovedOn.causedBy(e)) {
        throw e;
      }
      producer.abortTransaction();
      throw new GroupMovedOn(e);
    }
    lastCommitted = offsets;
    deadLetters.clear();
    ownership.deadLettersSent();
  }
}
