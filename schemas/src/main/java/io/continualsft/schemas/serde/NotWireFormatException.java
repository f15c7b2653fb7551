package io.continualsft.schemas.serde;

import io.continualsft.avro.RejectionReason;

/** The bytes do not start with the Confluent wire-format header (magic byte 0 + 4-byte schema id). */
public final class NotWireFormatException extends BadRecordException {
  public NotWireFormatException(String message) {
    super(RejectionReason.NOT_WIRE_FORMAT, message, null);
  }
}
