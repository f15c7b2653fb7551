package io.continualsft.schemas.serde;

import io.continualsft.avro.RejectionReason;

/**
 * A string field's bytes are not valid UTF-8 (a lone surrogate encoded as CESU-8, or garbled
 * bytes). Avro's own reader would replace them with U+FFFD and carry on; this one refuses.
 */
public final class InvalidTextException extends BadRecordException {
  public InvalidTextException(String message) {
    super(RejectionReason.INVALID_CHARACTERS, message, null);
  }
}
