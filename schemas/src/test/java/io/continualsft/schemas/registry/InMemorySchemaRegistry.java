package io.continualsft.schemas.registry;

import io.continualsft.schemas.serde.UnknownSchemaIdException;
import java.util.HashMap;
import java.util.Map;
import org.apache.avro.Schema;

/**
 * A schema registry in memory, for unit tests of what uses the serde (a topology, the trainer's
 * poll loop), never of the serde itself, which is tested against a real registry in
 * integration-tests. It can be switched "down" to act out an outage.
 */
public final class InMemorySchemaRegistry implements SchemaResolver {
  private final Map<Schema, Integer> ids = new HashMap<>();
  private final Map<Integer, Schema> schemas = new HashMap<>();
  private boolean down;

  public void setDown(boolean down) {
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
