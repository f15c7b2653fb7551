package io.continualsft.schemas.serde;

import io.continualsft.avro.RejectionReason;

/** The header is fine but the Avro body does not decode with the writer schema it names. */
public final class CorruptAvroException extends BadRecordException {
  public CorruptAvroException(String message, Throwable cause) {
    super(RejectionReason.CORRUPT_AVRO, message, cause);
  }
}
