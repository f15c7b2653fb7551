package io.continualsft.trainer.cli;

import io.continualsft.runtime.config.ClientConfigFile;
import io.continualsft.schemas.SftTopics;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * How a command reaches the cluster and which adapter topics it reads: the options {@code pull},
 * {@code release} and {@code releases} share.
 */
final class ClusterOptions {
  @Option(names = "--bootstrap", required = true, description = "Kafka bootstrap servers.")
  String bootstrap;

  @Option(names = "--registry", description = "Schema registry URL; or schema.registry.url in"
      + " --client-config.") String registry;

  @Option(names = "--client-config", description = "Kafka client properties (security.protocol,"
      + " sasl.*, ssl.*) and schema registry keys (basic.auth.*, bearer.auth.*,"
      + " schema.registry.ssl.*).") Path clientConfig;

  @Option(names = "--topic", defaultValue = SftTopics.ADAPTER_CHECKPOINTS,
      description = "The checkpoint topic (default: ${DEFAULT-VALUE}).") String checkpoints;

  @Option(names = "--releases-topic", defaultValue = SftTopics.ADAPTER_RELEASES,
      description = "The releases topic (default: ${DEFAULT-VALUE}).") String releases;

  /** The client properties of --client-config, --registry applied, auto-registration off. */
  Map<String, String> client() {
    Map<String, String> client = ClientConfigFile.read(clientConfig);
    if (registry != null) {
      client.put(SchemaRegistryConfig.URL, registry);
    }
    client.putIfAbsent(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS, "false");
    return client;
  }

  SchemaRegistryConfig registryConfig(Map<String, String> client) {
    return SchemaRegistryConfig.fromMap(client);
  }

  Map<String, Object> kafka(Map<String, String> client) {
    return new LinkedHashMap<>(client);
  }
}
