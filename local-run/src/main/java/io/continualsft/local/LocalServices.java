package io.continualsft.local;

import java.nio.file.Path;

/**
 * The Kafka broker and schema registry a local run talks to: started here (child processes on
 * loopback, free ports) or already running elsewhere. Closing stops only what was started here.
 */
final class LocalServices implements AutoCloseable {
  private final KafkaBroker broker;
  private final SchemaRegistryServer registry;
  private final String bootstrapServers;
  private final String registryUrl;

  private LocalServices(KafkaBroker broker, SchemaRegistryServer registry, String bootstrapServers,
      String registryUrl) {
    this.broker = broker;
    this.registry = registry;
    this.bootstrapServers = bootstrapServers;
    this.registryUrl = registryUrl;
  }

  /** Starts what {@code bootstrap} / {@code registryUrl} do not name (null = start one here). */
  static LocalServices start(String bootstrap, String registryUrl, Path dir) {
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
      return new LocalServices(broker, registry, bootstrap, registryUrl);
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
