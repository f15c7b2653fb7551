package io.continualsft.schemas.serde;

import io.continualsft.avro.RejectionReason;

/**
 * The writer schema named by the record cannot be resolved against this reader's schema (for
 * example the reader needs a field the writer lacks and has no default for it). A registry that
 * enforces BACKWARD/FORWARD compatibility prevents this; it happens when a producer registered
 * under another subject or the subject's compatibility was switched off.
 */
public final class IncompatibleWriterSchemaException extends BadRecordException {
  public IncompatibleWriterSchemaException(String message) {
    super(RejectionReason.INCOMPATIBLE_WRITER_SCHEMA, message, null);
  }
}
