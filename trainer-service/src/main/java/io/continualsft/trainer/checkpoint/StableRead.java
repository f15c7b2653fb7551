package io.continualsft.trainer.checkpoint;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.common.TopicPartition;

/**
 * Waits until every transaction open on a partition when the wait began has ended, so that a
 * read_committed reader that starts now sees every transaction committed before it started.
 *
 * <p>Why: a read_committed consumer reads only up to the last stable offset, the start of the
 * oldest open transaction. When trainers share a checkpoint partition (adapters hash onto the
 * same one), another trainer's open transaction, or the one a killed trainer left open until
 * {@code transaction.timeout.ms} aborts it, hides checkpoints committed after it began. A
 * trainer restoring an adapter it took over would then restore an older checkpoint than the
 * newest, and train its examples a second time. Comparing the last stable offset with the high
 * watermark (the end a read_uncommitted consumer sees) tells when nothing is hidden any more.
 */
public final class StableRead {
  private StableRead() {}

  /**
   * Returns once the last stable offset of {@code tp} (through {@code readCommitted}) reaches
   * its high watermark at the call (through {@code readUncommitted}).
   *
   * @throws CheckpointLookupException when that takes longer than {@code patience}
   */
  public static void await(Consumer<?, ?> readCommitted, Consumer<?, ?> readUncommitted,
      TopicPartition tp, Duration patience) {
    long highWatermark = readUncommitted.endOffsets(List.of(tp)).get(tp);
    Instant deadline = Instant.now().plus(patience);
    long stable;
    while ((stable = readCommitted.endOffsets(List.of(tp)).get(tp)) < highWatermark) {
      if (Instant.now().isAfter(deadline)) {
        throw new CheckpointLookupException("a transaction open on " + tp + " since offset "
            + stable + " has not ended within " + patience + "; a trainer killed mid-checkpoint"
            + " leaves one open until its transaction.timeout.ms passes");
      }
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new CheckpointLookupException("interrupted while waiting for " + tp
            + " to be stable");
      }
    }
  }
}
