package io.continualsft.trainer.service;

import io.continualsft.avro.RejectionReason;
import io.continualsft.schemas.serde.BadRecordException;
import java.time.Clock;
import java.time.Instant;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Deserializer;

/**
 * One record of the examples topic: decoded and admitted ({@link ExampleAdmission}), then
 * skipped (another adapter's, or in its adapter's history already), dead-lettered with a reason,
 * held out, or added to its adapter's step being formed, which is trained once it is full. A
 * record that does not decode, or is refused, never costs an adapter's restore, and never
 * creates an adapter: past {@code adapters.max-known} an adapter this trainer does not know yet
 * is refused (ADAPTER_NOT_ALLOWED), so a producer inventing names cannot grow its memory.
 */
final class RecordIntake {
  private final Deserializer<?> examples;
  private final ExampleAdmission admission;
  private final PartitionOwnership ownership;
  private final ResidentAdapters adapters;
  private final TransactionalCommitter committer;
  private final StepRunner steps;
  private final TrainerMetrics metrics;
  private final Clock clock;
  private final int maxKnown;

  RecordIntake(Deserializer<?> examples, ExampleAdmission admission,
      PartitionOwnership ownership, ResidentAdapters adapters, TransactionalCommitter committer,
      StepRunner steps, TrainerMetrics metrics, Clock clock, int maxKnown) {
    this.examples = examples;
    this.admission = admission;
    this.ownership = ownership;
    this.adapters = adapters;
    this.committer = committer;
    this.steps = steps;
    this.metrics = metrics;
    this.clock = clock;
    this.maxKnown = maxKnown;
  }

  void accept(TopicPartition tp, ConsumerRecord<byte[], byte[]> r) {
    Object example; // an SftExample, or a PreferenceExample for a KTO adapter
    try {
      example = examples.deserialize(r.topic(), r.value());
    } catch (BadRecordException e) {
      deadLetter(tp, r, e.reason(), e.getMessage());
      return;
    }
    if (example == null) {
      // A tombstone: an erasure's purge deleting an example by its key. As absent as the
      // record it deletes will be once compaction has run.
      metrics.skipped(TrainerMetrics.Skip.ERASED);
      return;
    }
    ExampleAdmission.Decision decision = admission.admit(example);
    switch (decision) {
      case ExampleAdmission.OtherAdapter other -> {
        metrics.skipped(TrainerMetrics.Skip.OTHER_ADAPTER);
        return;
      }
      case ExampleAdmission.OtherObjective other -> {
        metrics.skipped(TrainerMetrics.Skip.OTHER_OBJECTIVE);
        return;
      }
      case ExampleAdmission.Erased erased -> {
        // As if it were not in the log: no slot, no boundary moved, no dead letter (which would
        // copy it); the offsets move past it with the adapters' next boundaries.
        metrics.skipped(TrainerMetrics.Skip.ERASED);
        return;
      }
      case ExampleAdmission.Rejected rejected -> {
        deadLetter(tp, r, rejected.reason(), rejected.detail());
        return;
      }
      default -> { }
    }
    String adapter = ExampleAdmission.adapterOf(example);
    if (!adapters.knows(adapter) && adapters.known() >= maxKnown) {
      deadLetter(tp, r, RejectionReason.ADAPTER_NOT_ALLOWED, "adapter \"" + adapter
          + "\" would be one more than adapters.max-known (" + maxKnown + ") on this trainer");
      return;
    }
    AdapterSlot slot = adapters.slot(adapter, ownership.positions());
    if (slot.inHistory(tp, r.offset())) {
      metrics.skipped(TrainerMetrics.Skip.IN_HISTORY);
      return;
    }
    slot.firstRead.putIfAbsent(tp, r.offset());
    slot.books.read(tp, r.offset());
    switch (decision) {
      case ExampleAdmission.Train t -> slot.books.admit(t.example(), t.trainedTokens(),
          t.conversationId(), t.subject());
      case ExampleAdmission.HeldOut h -> {
        metrics.skipped(TrainerMetrics.Skip.HELD_OUT);
        slot.books.holdOut(h.example());
      }
      default -> throw new IllegalStateException("unexpected " + decision);
    }
    if (slot.books.stepFull()) {
      steps.step(slot);
    }
  }

  /** A dead letter for {@code r}, unless one was sent before (a restart, a rebalance). */
  private void deadLetter(TopicPartition tp, ConsumerRecord<byte[], byte[]> r,
      RejectionReason reason, String detail) {
    if (ownership.deadLetterSent(tp, r.offset())) {
      return;
    }
    metrics.deadLetter(reason);
    committer.deadLetter(r, reason, detail, Instant.ofEpochMilli(clock.millis()));
  }
}
