package io.continualsft.it.support;

import io.continualsft.local.SchemaRegistryServer;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gives tests one real schema registry per test JVM: the one at {@code SCHEMA_REGISTRY_URL} (its
 * Confluent-compatible base URL) when set, otherwise an Apicurio Registry started as a child
 * process and stopped when the test plan ends. Inject it as a {@link SchemaRegistry} parameter.
 */
public final class SchemaRegistryExtension implements ParameterResolver {
  private static final Logger log = LoggerFactory.getLogger(SchemaRegistryExtension.class);

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    return parameter.getParameter().getType() == SchemaRegistry.class;
  }

  @Override
  public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
    return context.getRoot()
        .getStore(ExtensionContext.Namespace.GLOBAL)
        .getOrComputeIfAbsent(SchemaRegistry.class, k -> startRegistry(), SchemaRegistry.class);
  }

  private static SchemaRegistry startRegistry() {
    String external = System.getenv("SCHEMA_REGISTRY_URL");
    if (external != null && !external.isBlank()) {
      log.info("tests use the existing schema registry at {}", external);
      return new SchemaRegistry(external, null);
    }
    SchemaRegistryServer server = SchemaRegistryServer.start(TestDirs.fresh("schema-registry"));
    log.info("tests use the Apicurio registry at {} (ready in {} ms, pid {})",
        server.url(), server.lastStartup().toMillis(), server.pid());
    return new SchemaRegistry(server.url(), server);
  }
}
