package io.continualsft.streams.cli;

import io.continualsft.chat.jsonl.JsonlConversation;

import io.continualsft.avro.Conversation;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroSerializer;
import java.io.BufferedReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "produce", mixinStandardHelpOptions = true,
    description = "Sends a JSONL file of conversations to Kafka as Avro Conversation events"
        + " (key = id, or a content hash when a line has none).")
final class ProduceCommand implements Callable<Integer> {
  @Option(names = "--bootstrap", required = true, description = "Kafka bootstrap servers.")
  String bootstrap;

  @Option(names = "--registry", required = true, description = "Schema registry URL (Confluent API).")
  String registry;

  @Option(names = "--input", required = true, description = "JSONL file.")
  Path input;

  @Option(names = "--topic", defaultValue = "sft.conversations", description = "Default: ${DEFAULT-VALUE}.")
  String topic;

  @Option(names = "--adapter", defaultValue = "default", description = "Adapter for lines without one (default: ${DEFAULT-VALUE}).")
  String adapter;

  @Option(names = "--no-auto-register", negatable = true, defaultValue = "true", fallbackValue = "true",
      description = "Register the Conversation schema if the subject lacks it (default: on).")
  boolean autoRegister;

  @Override
  public Integer call() throws Exception {
    PrintStream err = System.err;
    long total;
    try (var lines = Files.lines(input, StandardCharsets.UTF_8)) {
      total = lines.count();
    }
    AtomicLong acked = new AtomicLong();
    AtomicReference<Exception> failure = new AtomicReference<>();
    long invalid = 0;
    long started = System.nanoTime();
    Map<String, Object> config = Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
        ProducerConfig.ACKS_CONFIG, "all",
        ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
        ProducerConfig.LINGER_MS_CONFIG, 5);
    try (SchemaRegistryClient client = new SchemaRegistryClient(
            SchemaRegistryConfig.forUrl(registry, autoRegister));
        KafkaProducer<String, Conversation> producer = new KafkaProducer<>(config,
            new StringSerializer(), new AvroSerializer<>(client, false));
        BufferedReader in = Files.newBufferedReader(input, StandardCharsets.UTF_8)) {
      String line;
      long lineNo = 0;
      while ((line = in.readLine()) != null) {
        lineNo++;
        if (line.isBlank()) {
          invalid++;
          err.printf("%nline %d: blank, skipped%n", lineNo);
          continue;
        }
        JsonlConversation c;
        try {
          c = JsonlConversation.parse(line);
        } catch (JsonlConversation.InvalidLineException e) {
          invalid++;
          err.printf("%nline %d: %s, skipped%n", lineNo, e.getMessage());
          continue;
        }
        Conversation event = c.toAvro(adapter, Instant.ofEpochMilli(System.currentTimeMillis()));
        producer.send(new ProducerRecord<>(topic, event.getId(), event), (metadata, e) -> {
          if (e != null) {
            failure.compareAndSet(null, e);
          } else {
            acked.incrementAndGet();
          }
        });
        if (lineNo % 50 == 0) {
          progress(err, acked.get(), total, started);
        }
      }
      producer.flush();
    }
    progress(err, acked.get(), total, started);
    err.println();
    if (failure.get() != null) {
      err.println("produce: failed: " + failure.get().getMessage());
      return 1;
    }
    System.out.printf("produce: %d conversations sent to %s, %d lines skipped%n", acked.get(),
        topic, invalid);
    return invalid > 0 ? 3 : 0;
  }

  private static void progress(PrintStream err, long done, long total, long started) {
    int width = 30;
    int filled = total == 0 ? width : (int) (width * done / total);
    double seconds = (System.nanoTime() - started) / 1e9;
    err.printf("\r[%s%s] %d/%d  %.0f/s", "#".repeat(filled), " ".repeat(width - filled), done,
        total, seconds > 0 ? done / seconds : 0.0);
  }
}
