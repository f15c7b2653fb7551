package io.continualsft.trainer.checkpoint;

/**
 * The checkpoint topic could not be read far enough to say which checkpoint is the newest. Never
 * taken as "no checkpoint": a trainer that started fresh on that answer would retrain from
 * scratch over committed offsets.
 */
public final class CheckpointLookupException extends RuntimeException {
  public CheckpointLookupException(String message) {
    super(message);
  }
}
