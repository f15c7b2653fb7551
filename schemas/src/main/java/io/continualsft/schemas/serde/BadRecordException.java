package io.continualsft.schemas.serde;

import io.continualsft.avro.RejectionReason;
import org.apache.kafka.common.errors.SerializationException;

/**
 * The record's bytes themselves are unusable: retrying will never help, so a consumer should
 * dead-letter the record under {@link #reason()} and carry on. Contrast with
 * {@link io.continualsft.schemas.registry.SchemaRegistryException}, which says the registry (not the
 * record) is the problem and must never cause a good record to be dead-lettered.
 */
public abstract sealed class BadRecordException extends SerializationException
    permits NotWireFormatException, UnknownSchemaIdException, CorruptAvroException,
        IncompatibleWriterSchemaException, InvalidTextException {

  private final RejectionReason reason;

  protected BadRecordException(RejectionReason reason, String message, Throwable cause) {
    super(message, cause);
    this.reason = reason;
  }

  /** The dead-letter reason code for this kind of bad record. */
  public RejectionReason reason() {
    return reason;
  }
}
