package io.continualsft.schemas.serde;

import io.continualsft.schemas.registry.SchemaResolver;
import org.apache.avro.Schema;

/** One schema under id 1: enough registry for the serde alone, without a registry server. */
public record SingleSchemaResolver(Schema schema) implements SchemaResolver {
  @Override
  public int idFor(String subject, Schema ignored) {
    return 1;
  }

  @Override
  public Schema schemaById(int id) {
    return schema;
  }
}
