package io.continualsft.schemas.serde;

import io.continualsft.avro.RejectionReason;

/** The header names a schema id the registry does not know (it answered 404 for it). */
public final class UnknownSchemaIdException extends BadRecordException {
  private final int schemaId;

  public UnknownSchemaIdException(int schemaId, String registryUrl, String registryMessage) {
    super(
        RejectionReason.UNKNOWN_SCHEMA_ID,
        "schema id " + schemaId + " is not known to the registry at " + registryUrl
            + (registryMessage == null ? "" : " (" + registryMessage + ")"),
        null);
    this.schemaId = schemaId;
  }

  public int schemaId() {
    return schemaId;
  }
}
