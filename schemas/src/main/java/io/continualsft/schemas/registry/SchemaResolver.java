package io.continualsft.schemas.registry;

import org.apache.avro.Schema;

/**
 * What the serde needs of a schema registry: the id to write for a schema under a subject, and
 * the schema behind an id. {@link SchemaRegistryClient} is the real one; a topology unit test may
 * use an in-memory one, as Confluent's own examples do with their mock client.
 */
public interface SchemaResolver {
  /**
   * The id to write for {@code schema} under {@code subject}: registered on the way when
   * auto-registration is on.
   *
   * @throws SchemaNotRegisteredException when auto-registration is off and the subject lacks it
   */
  int idFor(String subject, Schema schema);

  /** The schema with this id. */
  Schema schemaById(int id);
}
