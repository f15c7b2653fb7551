package io.continualsft.streams.produce;

import io.continualsft.avro.Conversation;
import io.continualsft.chat.jsonl.JsonlConversation;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroSerializer;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Sends a conversations JSONL file to Kafka as Avro {@code Conversation} events, keyed by
 * conversation id (a content hash for a line without one), so repeats land in one partition and
 * the streams app's dedup sees them. A line that is not a conversation is skipped and reported
 * with its number and why, never silently.
 */
public final class ConversationFileProducer implements AutoCloseable {
  /** A line that was not sent, and why. */
  public record SkippedLine(long line, String reason) {}

  /** What a file came to: events acknowledged by the broker, and the lines skipped. */
  public record Result(long sent, List<SkippedLine> skipped, Exception failure) {}

  /** Called as events are acknowledged; {@code total} is the file's line count. */
  @FunctionalInterface
  public interface Progress {
    void update(long acknowledged, long total);
  }

  private final Producer<String, Conversation> producer;
  private final AutoCloseable registry;
  private final Clock clock;

  public ConversationFileProducer(Producer<String, Conversation> producer, AutoCloseable registry,
      Clock clock) {
    this.producer = producer;
    this.registry = registry;
    this.clock = clock;
  }

  /** An idempotent producer with acks=all, and its registry client. */
  public static ConversationFileProducer open(String bootstrapServers,
      SchemaRegistryConfig registryConfig, Map<String, Object> clientProperties) {
    Map<String, Object> config = SchemaRegistryConfig.kafkaOnly(clientProperties);
    config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    config.put(ProducerConfig.ACKS_CONFIG, "all");
    config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    config.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    SchemaRegistryClient registry = new SchemaRegistryClient(registryConfig);
    try {
      return new ConversationFileProducer(new KafkaProducer<>(config, new StringSerializer(),
          new AvroSerializer<>(registry, false)), registry, Clock.systemUTC());
    } catch (RuntimeException e) {
      registry.close();
      throw e;
    }
  }

  /** Sends every conversation of {@code input} to {@code topic} and waits for the acks. */
  public Result send(Path input, String topic, String defaultAdapter, Progress progress)
      throws IOException {
    long total;
    try (var lines = Files.lines(input, StandardCharsets.UTF_8)) {
      total = lines.count();
    }
    AtomicLong acked = new AtomicLong();
    AtomicReference<Exception> failure = new AtomicReference<>();
    List<SkippedLine> skipped = new ArrayList<>();
    try (BufferedReader in = Files.newBufferedReader(input, StandardCharsets.UTF_8)) {
      String line;
      long lineNo = 0;
      while ((line = in.readLine()) != null) {
        lineNo++;
        if (line.isBlank()) {
          skipped.add(new SkippedLine(lineNo, "blank"));
          continue;
        }
        JsonlConversation c;
        try {
          c = JsonlConversation.parse(line);
        } catch (JsonlConversation.InvalidLineException e) {
          skipped.add(new SkippedLine(lineNo, e.getMessage()));
          continue;
        }
        Conversation event = c.toAvro(defaultAdapter, Instant.ofEpochMilli(clock.millis()));
        producer.send(new ProducerRecord<>(topic, event.getId(), event), (metadata, e) -> {
          if (e != null) {
            failure.compareAndSet(null, e);
          } else {
            acked.incrementAndGet();
          }
        });
        if (lineNo % 50 == 0) {
          progress.update(acked.get(), total);
        }
      }
    }
    producer.flush();
    progress.update(acked.get(), total);
    return new Result(acked.get(), List.copyOf(skipped), failure.get());
  }

  @Override
  public void close() throws Exception {
    try {
      producer.close();
    } finally {
      registry.close();
    }
  }
}
