package io.continualsft.streams.cli;

import io.continualsft.chat.dataset.DatasetFormat;
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
    description = "Sends a file of conversations to Kafka as Avro Conversation events (key = id,"
        + " or a content hash when a record has none): JSONL or a JSON array, plain or gzip, in"
        + " any --format. Every record skipped is reported with its line number and reason.")
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

  @Option(names = "--input", required = true, description = "JSONL or JSON-array file, plain"
      + " or gzip (told by its first bytes).")
  Path input;

  @Option(names = "--format", defaultValue = "auto", description = "auto, conversations (the"
      + " seed's role/content), messages (Hugging Face), sharegpt, openai (chat-completion"
      + " request/response logs) or alpaca. auto decides per record by its fields (default:"
      + " ${DEFAULT-VALUE}).")
  String format;

  @Option(names = "--topic", defaultValue = SftTopics.CONVERSATIONS, description = "Default: ${DEFAULT-VALUE}.")
  String topic;

  @Option(names = "--adapter", defaultValue = "default", description = "Adapter for lines without one (default: ${DEFAULT-VALUE}).")
  String adapter;

  @Option(names = "--subject-field", defaultValue = "subject", description = "The top-level"
      + " field of each record that holds its data subject, e.g. user_id (default:"
      + " ${DEFAULT-VALUE}); records without it have none. See docs/erasure.md.")
  String subjectField;

  @Option(names = "--subject", description = "One data subject for every record (a person's"
      + " export); overrides --subject-field.")
  String subject;

  @Option(names = "--no-auto-register", negatable = true, defaultValue = "true", fallbackValue = "true",
      description = "Register the Conversation schema if the subject lacks it (default: on).")
  boolean autoRegister;

  @Override
  public Integer call() throws Exception {
    PrintStream err = System.err;
    long started = System.nanoTime();
    DatasetFormat datasetFormat;
    try {
      datasetFormat = DatasetFormat.parse(format);
    } catch (IllegalArgumentException e) {
      err.println("produce: --format: " + e.getMessage());
      return 2;
    }
    ConversationFileProducer.Result result;
    Map<String, String> client = ClientConfigFile.read(clientConfig);
    if (registry != null) {
      client.put(SchemaRegistryConfig.URL, registry);
    }
    client.put(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS, Boolean.toString(autoRegister));
    try (ConversationFileProducer producer = ConversationFileProducer.open(bootstrap,
        SchemaRegistryConfig.fromMap(client), new java.util.LinkedHashMap<>(client))) {
      result = producer.send(input, datasetFormat, topic, adapter, subject != null
          ? ConversationFileProducer.SubjectMapping.fixed(subject)
          : ConversationFileProducer.SubjectMapping.field(subjectField),
          (done, read, size) -> progress(err, done, read, size, started));
    }
    err.println();
    for (ConversationFileProducer.SkippedLine s : result.skipped()) {
      err.printf("%s line %d: %s, skipped%n", input.getFileName(), s.line(), s.reason());
    }
    if (result.failure() != null) {
      err.println("produce: failed: " + result.failure().getMessage());
      return 1;
    }
    System.out.printf("produce: %d conversations sent to %s, %d lines skipped%n", result.sent(),
        topic, result.skipped().size());
    return result.skipped().isEmpty() ? 0 : 3;
  }

  static void progress(PrintStream err, long done, long read, long size, long started) {
    int width = 30;
    int filled = size == 0 ? width : (int) Math.min(width, width * read / size);
    double seconds = (System.nanoTime() - started) / 1e9;
    err.printf("\r[%s%s] %3d%%  %d sent  %.0f/s", "#".repeat(filled), " ".repeat(width - filled),
        size == 0 ? 100 : Math.min(100, 100 * read / size), done,
        seconds > 0 ? done / seconds : 0.0);
  }
}
