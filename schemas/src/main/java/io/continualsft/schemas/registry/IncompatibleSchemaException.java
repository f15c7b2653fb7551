package io.continualsft.schemas.registry;

/** The registry refused a schema because it breaks the subject's compatibility rule (HTTP 409). */
public final class IncompatibleSchemaException extends SchemaRegistryException {
  private final String subject;

  public IncompatibleSchemaException(String subject, String registryMessage) {
    super(
        "schema is incompatible with the latest version of subject '" + subject
            + "' under the registry's compatibility rule: " + registryMessage,
        null);
    this.subject = subject;
  }

  public String subject() {
    return subject;
  }
}
