package io.continualsft.local;

import io.continualsft.schemas.registry.SchemaRegistryConfig;
import java.nio.file.Path;
import java.util.Map;

/**
 * The Kafka broker and schema registry a local run talks to: started here (child processes on
 * loopback, free ports) or already running elsewhere. Closing stops only what was started here.
 */
final class LocalServices implements AutoCloseable {
  private final KafkaBroker broker;
  private final SchemaRegistryServer registry;
  private final String bootstrapServers;
  private final String registryUrl;
  private final Map<String, String> clientProperties;

  private LocalServices(KafkaBroker broker, SchemaRegistryServer registry, String bootstrapServers,
      String registryUrl, Map<String, String> clientProperties) {
    this.broker = broker;
    this.registry = registry;
    this.bootstrapServers = bootstrapServers;
    this.registryUrl = registryUrl;
    this.clientProperties = Map.copyOf(clientProperties);
  }

  /** Starts what {@code bootstrap} / {@code registryUrl} do not name (null = start one here). */
  static LocalServices start(String bootstrap, String registryUrl, Path dir) {
    return start(bootstrap, registryUrl, Map.of(), dir);
  }

  /**
   * As {@link #start(String, String, Path)}; {@code clientProperties} (security, and the
   * registry's credentials and TLS keys) apply to every client of a cluster and registry of the
   * user's own.
   */
  static LocalServices start(String bootstrap, String registryUrl,
      Map<String, String> clientProperties, Path dir) {
    KafkaBroker broker = null;
    SchemaRegistryServer registry = null;
    try {
      if (bootstrap == null) {
        LocalRun.say("Starting a real Apache Kafka broker (KRaft, child JVM) ...");
        broker = KafkaBroker.start(dir.resolve("kafka"));
        bootstrap = broker.bootstrapServers();
        LocalRun.say("  ready at %s in %.1f s (log: %s)", bootstrap,
            broker.lastStartup().toMillis() / 1000.0, dir.resolve("kafka/broker.log"));
      } else {
        LocalRun.say("Using the Kafka cluster at %s", bootstrap);
      }
      if (registryUrl == null) {
        LocalRun.say("Starting the schema registry (Apicurio, Confluent-compatible API) ...");
        registry = SchemaRegistryServer.start(dir.resolve("registry"));
        registryUrl = registry.url();
        LocalRun.say("  ready at %s in %.1f s", registryUrl,
            registry.lastStartup().toMillis() / 1000.0);
      } else {
        LocalRun.say("Using the schema registry at %s", registryUrl);
      }
      return new LocalServices(broker, registry, bootstrap, registryUrl,
          broker == null ? clientProperties : Map.of());
    } catch (RuntimeException e) {
      if (broker != null) {
        broker.close();
      }
      throw e;
    }
  }

  boolean embedded() {
    return broker != null;
  }

  String bootstrapServers() {
    return bootstrapServers;
  }

  String registryUrl() {
    return registryUrl;
  }

  /** The client properties every client of these services gets (security, registry auth). */
  Map<String, String> clientProperties() {
    return clientProperties;
  }

  /** A Kafka client configuration: the bootstrap servers, the client properties, then {@code extra}. */
  Map<String, Object> kafka(Map<String, Object> extra) {
    Map<String, Object> c = SchemaRegistryConfig.kafkaOnly(clientProperties);
    c.put("bootstrap.servers", bootstrapServers);
    c.putAll(extra);
    return c;
  }

  /** The registry client's configuration, credentials and TLS included. */
  SchemaRegistryConfig registryConfig(boolean autoRegister) {
    Map<String, String> c = new java.util.LinkedHashMap<>(clientProperties);
    c.keySet().removeIf(k -> !SchemaRegistryConfig.DEFAULTS.containsKey(k));
    c.put(SchemaRegistryConfig.URL, registryUrl);
    c.put(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS, Boolean.toString(autoRegister));
    return SchemaRegistryConfig.fromMap(c);
  }

  @Override
  public void close() {
    try {
      if (registry != null) {
        registry.close();
      }
    } finally {
      if (broker != null) {
        broker.close();
      }
    }
  }
}
