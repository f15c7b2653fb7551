package io.continualsft.trainer.service;

import io.continualsft.trainer.lora.LoraSettings;
import io.continualsft.trainer.checkpoint.CheckpointSource;
import io.continualsft.trainer.lora.AdapterState;
import io.continualsft.trainer.train.Objective;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.kafka.common.TopicPartition;

/**
 * One adapter of a trainer's partitions: its accounting (always in memory, small: the step being
 * formed and the held-out examples) and, while it is resident, its weights and optimizer moments
 * (in the model when it is the adapter being trained, else in {@link #parked}). An evicted
 * adapter's weights and moments are only in its last checkpoint, on the checkpoint topic.
 */
final class AdapterSlot {
  final String name;
  final LoraSettings lora;
  final StepBookkeeping books;
  final ReplayDraw replay;
  /** What it learns from, and its loss. */
  final Objective objective;
  /** Where this adapter is in the resident order: higher is more recently trained. */
  long lastUsed;
  boolean resident;
  /** Resident but not in the model: its weights and moments. Null otherwise. */
  AdapterState parked;
  /** The gate's baseline: the current release's weights and retention loss (cached). */
  ReleaseJudge.Baseline baseline;
  /** Where this trainer wrote the adapter's last checkpoint (null: not known). */
  CheckpointSource.Written written;
  /**
   * How many erasure requests this adapter's state is known to be clean of: its checkpoint's
   * count when restored, every request when it starts fresh; raised when an erasure examined it.
   */
  long erasuresChecked;
  /** The eval loss at its last checkpoint, for its meter. */
  double evalLoss = Double.NaN;

  /**
   * Per partition, the boundary of the checkpoint this slot was restored from: the adapter's
   * records before it are in its published history already, and are passed over when read again.
   */
  final Map<TopicPartition, Long> inHistoryBelow = new LinkedHashMap<>();
  /** Per partition, the boundary of its last committed checkpoint (or where it was restored). */
  final Map<TopicPartition, Long> committedBoundary = new LinkedHashMap<>();
  /** Per partition, the offset of the first of its records this trainer read. */
  final Map<TopicPartition, Long> firstRead = new LinkedHashMap<>();

  AdapterSlot(String name, LoraSettings lora, StepBookkeeping books, ReplayDraw replay) {
    this(name, lora, books, replay, Objective.SFT);
  }

  AdapterSlot(String name, LoraSettings lora, StepBookkeeping books, ReplayDraw replay,
      Objective objective) {
    this.objective = objective;
    this.name = name;
    this.lora = lora;
    this.books = books;
    this.replay = replay;
  }

  /** Whether the adapter's record at {@code offset} of {@code tp} is in its history already. */
  boolean inHistory(TopicPartition tp, long offset) {
    return offset < inHistoryBelow.getOrDefault(tp, Long.MIN_VALUE);
  }

  /**
   * The offset of {@code tp} from which a trainer taking over must read again to see every
   * record of this adapter that its published history does not account for; {@link
   * Long#MAX_VALUE} when there is none.
   */
  long resumeFrom(TopicPartition tp) {
    if (!books.unaccounted() || !firstRead.containsKey(tp)) {
      return Long.MAX_VALUE;
    }
    return Math.max(committedBoundary.getOrDefault(tp, Long.MIN_VALUE), firstRead.get(tp));
  }
}
