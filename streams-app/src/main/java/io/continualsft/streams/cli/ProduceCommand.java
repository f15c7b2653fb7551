package io.continualsft.streams.cli;

import io.continualsft.runtime.config.ClientConfigFile;
import io.continualsft.schemas.SftTopics;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.streams.produce.ConversationFileProducer;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "produce", mixinStandardHelpOptions = true,
    description = "Sends a JSONL file of conversations to Kafka as Avro Conversation events"
        + " (key = id, or a content hash when a line has none).")
final class ProduceCommand implements Callable<Integer> {
  @Option(names = "--bootstrap", required = true, description = "Kafka bootstrap servers.")
  String bootstrap;

  @Option(names = "--registry", description = "Schema registry URL (Confluent API); or"
      + " schema.registry.url in --client-config.")
  String registry;

  @Option(names = "--client-config", description = "Kafka client properties (security.protocol,"
      + " sasl.*, ssl.*) and schema registry keys (basic.auth.*, bearer.auth.*,"
      + " schema.registry.ssl.*), as for Kafka's own tools.")
  Path clientConfig;

  @Option(names = "--input", required = true, description = "JSONL file.")
  Path input;

  @Option(names = "--topic", defaultValue = SftTopics.CONVERSATIONS, description = "Default: ${DEFAULT-VALUE}.")
  String topic;

  @Option(names = "--adapter", defaultValue = "default", description = "Adapter for lines without one (default: ${DEFAULT-VALUE}).")
  String adapter;

  @Option(names = "--no-auto-register", negatable = true, defaultValue = "true", fallbackValue = "true",
      description = "Register the Conversation schema if the subject lacks it (default: on).")
  boolean autoRegister;

  @Override
  public Integer call() throws Exception {
    PrintStream err = System.err;
    long started = System.nanoTime();
    ConversationFileProducer.Result result;
    Map<String, String> client = ClientConfigFile.read(clientConfig);
    if (registry != null) {
      client.put(SchemaRegistryConfig.URL, registry);
    }
    client.put(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS, Boolean.toString(autoRegister));
    try (ConversationFileProducer producer = ConversationFileProducer.open(bootstrap,
        SchemaRegistryConfig.fromMap(client), new java.util.LinkedHashMap<>(client))) {
      result = producer.send(input, topic, adapter,
          (done, total) -> progress(err, done, total, started));
    }
    err.println();
    for (ConversationFileProducer.SkippedLine s : result.skipped()) {
      err.printf("line %d: %s, skipped%n", s.line(), s.reason());
    }
    if (result.failure() != null) {
      err.println("produce: failed: " + result.failure().getMessage());
      return 1;
    }
    System.out.printf("produce: %d conversations sent to %s, %d lines skipped%n", result.sent(),
        topic, result.skipped().size());
    return result.skipped().isEmpty() ? 0 : 3;
  }

  static void progress(PrintStream err, long done, long total, long started) {
    int width = 30;
    int filled = total == 0 ? width : (int) (width * done / total);
    double seconds = (System.nanoTime() - started) / 1e9;
    err.printf("\r[%s%s] %d/%d  %.0f/s", "#".repeat(filled), " ".repeat(width - filled), done,
        total, seconds > 0 ? done / seconds : 0.0);
  }
}
