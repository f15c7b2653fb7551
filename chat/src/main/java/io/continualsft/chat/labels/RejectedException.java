package io.continualsft.chat.labels;

import io.continualsft.avro.RejectionReason;

/** A conversation that cannot become a training example: why, in a code and in words. */
public final class RejectedException extends Exception {
  private final RejectionReason reason;

  public RejectedException(RejectionReason reason, String detail) {
    super(detail, null, false, false); // an expected outcome, not a failure: no stack trace
    this.reason = reason;
  }

  public RejectionReason reason() {
    return reason;
  }

  public String detail() {
    return getMessage();
  }
}
