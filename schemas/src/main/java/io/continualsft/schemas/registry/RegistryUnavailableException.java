package io.continualsft.schemas.registry;

/**
 * The registry could not be reached, timed out, or kept answering 5xx after every retry. Transient
 * from the record's point of view: the same record will deserialize once the registry is back.
 */
public final class RegistryUnavailableException extends SchemaRegistryException {
  private final String url;

  public RegistryUnavailableException(String url, String what, Throwable cause) {
    super("schema registry at " + url + " is unavailable: " + what, cause);
    this.url = url;
  }

  public String url() {
    return url;
  }
}
