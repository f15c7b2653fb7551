package io.continualsft.it.support;

import io.continualsft.local.SchemaRegistryServer;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import java.util.Optional;

/** A real schema registry handed to a test by {@link SchemaRegistryExtension}. */
public final class SchemaRegistry implements AutoCloseable {
  private final String url;
  private final SchemaRegistryServer server;

  SchemaRegistry(String url, SchemaRegistryServer server) {
    this.url = url;
    this.server = server;
  }

  /** Base URL of the Confluent-compatible API. */
  public String url() {
    return url;
  }

  /** The registry process when this JVM started it. */
  public Optional<SchemaRegistryServer> server() {
    return Optional.ofNullable(server);
  }

  /** A new client with auto-registration on or off. */
  public SchemaRegistryClient client(boolean autoRegister) {
    return new SchemaRegistryClient(SchemaRegistryConfig.forUrl(url, autoRegister));
  }

  @Override
  public void close() {
    if (server != null) {
      server.stop();
    }
  }

  @Override
  public String toString() {
    return "schema registry at " + url;
  }
}
