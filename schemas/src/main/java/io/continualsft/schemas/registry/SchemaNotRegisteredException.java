package io.continualsft.schemas.registry;

/**
 * Serializing needs the schema's id, auto-registration is off, and the subject does not hold this
 * schema. Register it (CI, a migration step) or set {@code auto.register.schemas=true}.
 */
public final class SchemaNotRegisteredException extends SchemaRegistryException {
  public SchemaNotRegisteredException(String subject, String url) {
    super(
        "schema is not registered under subject '" + subject + "' at " + url
            + " and auto.register.schemas is false: register it first or enable auto-registration",
        null);
  }
}
