package io.continualsft.chat.dataset;

/** A record of a dataset file that is not a conversation; the message says why. */
public final class InvalidRecordException extends Exception {
  public InvalidRecordException(String message) {
    super(message);
  }
}
