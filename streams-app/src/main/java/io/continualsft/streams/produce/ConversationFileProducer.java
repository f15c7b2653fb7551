package io.continualsft.streams.produce;

import io.continualsft.avro.Conversation;
import io.continualsft.chat.dataset.DatasetFile;
import io.continualsft.chat.dataset.DatasetFormat;
import io.continualsft.chat.dataset.DatasetRecords;
import io.continualsft.chat.dataset.ImportedConversation;
import io.continualsft.chat.dataset.InvalidRecordException;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroSerializer;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
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
 * Sends a dataset file (JSONL or a JSON array, plain or gzip, in any {@link DatasetFormat}) to
 * Kafka as Avro {@code Conversation} events, keyed by conversation id (a content hash for a
 * record without one), so repeats land in one partition and the streams app's dedup sees them. A
 * record that is not a conversation is skipped and reported with its line number and why, never
 * silently.
 */
public final class ConversationFileProducer implements AutoCloseable {
  /** A line that was not sent, and why. */
  public record SkippedLine(long line, String reason) {}

  /** What a file came to: events acknowledged by the broker, and the lines skipped. */
  public record Result(long sent, List<SkippedLine> skipped, Exception failure) {}

  /** Called as events are acknowledged, with how far through the file (stored bytes) it is. */
  @FunctionalInterface
  public interface Progress {
    void update(long acknowledged, long bytesRead, long fileBytes);
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
  public Result send(Path input, DatasetFormat format, String topic, String defaultAdapter,
      Progress progress) throws IOException {
    return send(input, format, topic, defaultAdapter, SubjectMapping.RECORD, progress);
  }

  /**
   * Where each conversation's data subject comes from: the record's {@code "subject"} ({@link
   * #RECORD}), another top-level field of it ({@link #field}), or one subject for every record
   * ({@link #fixed}).
   */
  public record SubjectMapping(String field, String fixed) {
    public static final SubjectMapping RECORD = new SubjectMapping("subject", null);

    public static SubjectMapping field(String name) {
      return new SubjectMapping(name, null);
    }

    public static SubjectMapping fixed(String subject) {
      return new SubjectMapping(null, subject);
    }
  }

  /** As above, each conversation's data subject taken as {@code subjects} says. */
  public Result send(Path input, DatasetFormat format, String topic, String defaultAdapter,
      SubjectMapping subjects, Progress progress) throws IOException {
    AtomicLong acked = new AtomicLong();
    AtomicReference<Exception> failure = new AtomicReference<>();
    List<SkippedLine> skipped = new ArrayList<>();
    long records = 0;
    try (DatasetFile file = DatasetFile.open(input)) {
      DatasetFile.Entry entry;
      while ((entry = file.next()) != null) {
        ImportedConversation c;
        try {
          c = DatasetRecords.convert(entry.record(), format);
          c = c.withSubject(subjects.fixed() != null ? subjects.fixed()
              : DatasetRecords.subject(entry.record(), subjects.field()));
        } catch (InvalidRecordException e) {
          skipped.add(new SkippedLine(entry.line(), e.getMessage()));
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
        if (++records % 50 == 0) {
          progress.update(acked.get(), file.bytesRead(), file.sizeBytes());
        }
      }
      producer.flush();
      progress.update(acked.get(), file.sizeBytes(), file.sizeBytes());
    }
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
