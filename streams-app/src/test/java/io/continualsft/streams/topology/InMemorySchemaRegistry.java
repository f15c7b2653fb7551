package io.continualsft.streams.topology;

import io.continualsft.schemas.registry.RegistryUnavailableException;
import io.continualsft.schemas.registry.SchemaResolver;
import io.continualsft.schemas.serde.UnknownSchemaIdException;
import java.util.HashMap;
import java.util.Map;
import org.apache.avro.Schema;

/**
 * A schema registry in memory, for TopologyTestDriver tests only (the subject of those tests is
 * the topology, not the registry; the serde is tested against a real registry in
 * integration-tests). It can be switched "down" to act out an outage.
 */
final class InMemorySchemaRegistry implements SchemaResolver {
  private final Map<Schema, Integer> ids = new HashMap<>();
  private final Map<Integer, Schema> schemas = new HashMap<>();
  private boolean down;

  void setDown(boolean down) {
    this.down = down;
  }

  @Override
  public synchronized int idFor(String subject, Schema schema) {
    checkUp();
    return ids.computeIfAbsent(schema, s -> {
      int id = ids.size() + 1;
      schemas.put(id, s);
      return id;
    });
  }

  @Override
  public synchronized Schema schemaById(int id) {
    checkUp();
    Schema schema = schemas.get(id);
    if (schema == null) {
      throw new UnknownSchemaIdException(id, "memory://", null);
    }
    return schema;
  }

  private void checkUp() {
    if (down) {
      throw new RegistryUnavailableException("memory://", "switched off by the test", null);
    }
  }
}
