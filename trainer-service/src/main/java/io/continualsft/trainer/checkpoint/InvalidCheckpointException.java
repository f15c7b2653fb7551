package io.continualsft.trainer.checkpoint;

/**
 * A complete checkpoint (every chunk there, every checksum right) whose content does not parse:
 * a malformed configuration, tensor file or trainer state. Whoever wrote it, it is skipped, never
 * applied; contrast with a checkpoint of another base model or LoRA configuration, which is a
 * configuration error and stops the trainer.
 */
public final class InvalidCheckpointException extends RuntimeException {
  public InvalidCheckpointException(String message, Throwable cause) {
    super(message, cause);
  }
}
