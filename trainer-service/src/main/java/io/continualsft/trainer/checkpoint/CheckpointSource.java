package io.continualsft.trainer.checkpoint;

import java.util.Optional;

/** Where a trainer finds the checkpoint to resume from: the checkpoint topic, or a test's list. */
@FunctionalInterface
public interface CheckpointSource {
  /** The newest complete checkpoint of {@code adapter}, or empty when it has none. */
  Optional<Checkpoint> newest(String adapter);
}
