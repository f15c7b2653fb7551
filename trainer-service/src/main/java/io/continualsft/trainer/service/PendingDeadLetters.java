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
 * dead letter is published exactly when the offset past its record is committed.
 */
final class PendingDeadLetters {
  private final String topic;
  private final String rejectedBy;
  private final List<ProducerRecord<String, Object>> pending = new ArrayList<>();

  PendingDeadLetters(String topic, String rejectedBy) {
    this.topic = topic;
    this.rejectedBy = rejectedBy;
  }

  void add(ConsumerRecord<byte[], byte[]> record, RejectionReason reason, String detail,
      Instant at) {
    Rejection rejection = DeadLetters.rejection(reason, detail, rejectedBy,
        new DeadLetters.Source(record.topic(), record.partition(), record.offset(), record.key(),
            record.value()),
        at, DeadLetters.NO_CAP);
    pending.add(new ProducerRecord<>(topic, DeadLetters.key(record.key()), rejection));
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
  }
}
