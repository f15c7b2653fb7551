package io.continualsft.schemas.registry;

import org.apache.kafka.common.errors.SerializationException;

/**
 * The schema registry could not do what was asked. Unlike
 * {@link io.continualsft.schemas.serde.BadRecordException} this says nothing about the record being
 * (de)serialized: a consumer must not dead-letter a record because of it.
 */
public sealed class SchemaRegistryException extends SerializationException
    permits RegistryUnavailableException, IncompatibleSchemaException,
        SchemaNotRegisteredException, SchemaRegistryException.RequestFailed {

  protected SchemaRegistryException(String message, Throwable cause) {
    super(message, cause);
  }

  /** The registry answered with an error this client has no more specific type for. */
  public static final class RequestFailed extends SchemaRegistryException {
    private final int errorCode;

    /** {@code message} says what was asked and the HTTP status the answer had. */
    public RequestFailed(String message, int errorCode) {
      super(message, null);
      this.errorCode = errorCode;
    }

    /** The registry's {@code error_code}, or -1 when the body had none. */
    public int errorCode() {
      return errorCode;
    }
  }
}
