package io.continualsft.trainer.service;

import io.continualsft.trainer.config.TrainerSettings;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Partitions coming and going with the consumer group. A partition assigned is read from the
 * group's committed offset (a low-water mark, {@link PartitionOwnership}); its adapters are
 * restored from their checkpoints when their first record arrives. A partition given up is
 * checkpointed first (every adapter of it that trained since its last checkpoint; a step being
 * formed is abandoned, its examples read again by the next owner) in transactions that commit
 * its offsets; a partition lost (this trainer was too slow, or fenced) is dropped without
 * committing anything.
 */
final class GroupMembership implements ConsumerRebalanceListener {
  private static final Logger log = LoggerFactory.getLogger(GroupMembership.class);

  private final TrainerSettings settings;
  private final Consumer<byte[], byte[]> consumer;
  private final PartitionOwnership ownership;
  private final ResidentAdapters adapters;
  private final TransactionalCommitter committer;
  private final CheckpointCutter cutter;
  private final ProgressReport progress;
  private final BooleanSupplier failed;
  private TransactionalCommitter.GroupMovedOn startOver; // handled after poll() returns

  GroupMembership(TrainerSettings settings, Consumer<byte[], byte[]> consumer,
      PartitionOwnership ownership, ResidentAdapters adapters, TransactionalCommitter committer,
      CheckpointCutter cutter, ProgressReport progress, BooleanSupplier failed) {
    this.settings = settings;
    this.consumer = consumer;
    this.ownership = ownership;
    this.adapters = adapters;
    this.committer = committer;
    this.cutter = cutter;
    this.progress = progress;
    this.failed = failed;
  }

  /**
   * Joins the group ({@code adapter.id=*}), or, for one named adapter, reads every partition:
   * no membership to wait for on a restart; a second trainer of the adapter is fenced by the
   * shared transactional id.
   */
  void join() {
    // The examples topic, the preference examples topic, or both: what its adapters learn from.
    List<String> topics = settings.inputTopics();
    if (settings.everyAdapter()) {
      consumer.subscribe(topics, this);
    } else {
      List<TopicPartition> partitions = new java.util.ArrayList<>();
      for (String topic : topics) {
        List<org.apache.kafka.common.PartitionInfo> found = consumer.partitionsFor(topic);
        if (found == null || found.isEmpty()) {
          throw new IllegalStateException("topic " + topic + " (adapter " + settings.adapter()
              + " learns by " + settings.objectiveOf(settings.adapter()).word() + ") does not"
              + " exist; create it, or check topic.examples and topic.preference-examples");
        }
        found.forEach(p -> partitions.add(new TopicPartition(p.topic(), p.partition())));
      }
      consumer.assign(partitions);
      onPartitionsAssigned(partitions);
    }
  }

  @Override
  public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
    if (partitions.isEmpty()) {
      return;
    }
    PartitionOwnership.TakenOver from = ownership.takeOver(partitions);
    progress.assigned(partitions, partitions.stream().map(ownership.positions()::get).toList());
    if (!settings.everyAdapter()) {
      // Restored now, as a trainer of one adapter always has: its checkpoint is checked at
      // start, not at its first example.
      boolean known = adapters.knows(settings.adapter());
      AdapterSlot slot = adapters.slot(settings.adapter(), ownership.positions());
      if (!known && slot.books.version() == 0) {
        checkFreshAdapterHasNoOffsets(from);
      }
    }
  }

  @Override
  public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
    if (partitions.isEmpty() || failed.getAsBoolean()) {
      return;
    }
    List<AdapterSlot> leaving = adapters.of(partitions);
    int checkpointed = 0;
    try {
      for (AdapterSlot slot : leaving) {
        slot.books.settle();
        if (slot.books.dirty()) {
          cutter.cut(slot);
          checkpointed++;
        }
      }
      if (committer.offsetsMoved()) {
        committer.commitOffsets();
      }
    } catch (TransactionalCommitter.GroupMovedOn moved) {
      // Too late to hand over cleanly: the next owner reads from the last committed offsets,
      // and so does this trainer for the partitions it keeps, once poll() returns.
      startOver = moved;
    }
    drop(partitions, leaving);
    progress.revoked(partitions, leaving.size(), checkpointed);
  }

  @Override
  public void onPartitionsLost(Collection<TopicPartition> partitions) {
    List<AdapterSlot> leaving = adapters.of(partitions);
    committer.forgetDeadLetters(partitions);
    drop(partitions, leaving);
    log.warn("lost {} without committing: {} adapters dropped; their new owner resumes them"
        + " from their checkpoints", partitions, leaving.size());
  }

  /** Whether a rebalance callback found the group moved on; cleared by {@link #startOver}. */
  TransactionalCommitter.GroupMovedOn movedOn() {
    return startOver;
  }

  /**
   * After the group moved on: everything not committed is dropped (the adapters, their steps
   * being formed, the dead letters) and the partitions still assigned are read again from the
   * group's committed offsets, whoever committed them. Nothing is lost or trained twice: what
   * was dropped was never part of a published history.
   */
  void startOver(TransactionalCommitter.GroupMovedOn moved) {
    log.warn("the consumer group moved on while this trainer was busy ({}); dropping what it"
        + " had not committed ({} adapters) and reading again from the committed offsets",
        moved.getMessage(), adapters.all().size());
    startOver((String) null);
  }

  /** As after {@link TransactionalCommitter.GroupMovedOn}, for {@code why} (logged). */
  void startOver(String why) {
    if (why != null) {
      log.info("{}: reading again from the committed offsets ({} adapters restored)", why,
          adapters.all().size());
    }
    startOver = null;
    committer.startOver();
    drop(List.copyOf(ownership.positions().keySet()), List.copyOf(adapters.all()));
    Collection<TopicPartition> assigned = consumer.assignment();
    if (!assigned.isEmpty()) {
      onPartitionsAssigned(assigned);
    }
  }

  private void drop(Collection<TopicPartition> partitions, List<AdapterSlot> leaving) {
    ownership.release(partitions);
    adapters.drop(leaving);
  }

  /**
   * A named adapter with no checkpoint, in a group that committed offsets, would silently skip
   * every example before them.
   */
  private void checkFreshAdapterHasNoOffsets(PartitionOwnership.TakenOver from) {
    Map<TopicPartition, OffsetAndMetadata> some = new LinkedHashMap<>(from.committed());
    // An offset at the partition's beginning skips nothing (a trainer that caught up with an
    // empty topic commits one).
    some.entrySet().removeIf(e -> e.getValue() == null
        || e.getValue().offset() <= from.beginnings().getOrDefault(e.getKey(), 0L));
    if (some.isEmpty()) {
      return;
    }
    throw new IllegalStateException("consumer group " + settings.kafka().groupId()
        + " has committed offsets on " + some.keySet() + " but the topic "
        + settings.kafka().checkpointTopic() + " has no complete checkpoint of adapter "
        + settings.adapter() + ". Starting a fresh adapter there would silently skip every"
        + " example before those offsets. Restore the checkpoint topic; or, to retrain from"
        + " the start, reset the group: kafka-consumer-groups.sh --reset-offsets"
        + " --to-earliest --execute --group " + settings.kafka().groupId() + " --topic "
        + settings.inputTopics().getFirst() + "; or use a new group.id for a new adapter.");
  }
}
