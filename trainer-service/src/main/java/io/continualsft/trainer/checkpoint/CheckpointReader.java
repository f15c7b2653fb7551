package io.continualsft.trainer.checkpoint;

import io.continualsft.avro.CheckpointRecord;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroDeserializer;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads the newest complete checkpoints of a checkpoint topic, as {@code pull} and the local run
 * do: read_committed, so a checkpoint is seen whole or not at all, and every checksum verified.
 */
public final class CheckpointReader implements AutoCloseable {
  private final SchemaRegistryClient registry;
  private final KafkaConsumer<String, CheckpointRecord> consumer;
  private final String topic;

  private CheckpointReader(SchemaRegistryClient registry,
      KafkaConsumer<String, CheckpointRecord> consumer, String topic) {
    this.registry = registry;
    this.consumer = consumer;
    this.topic = topic;
  }

  /** {@code clientProperties}: any other Kafka client setting (security, timeouts). */
  public static CheckpointReader open(String bootstrapServers, SchemaRegistryConfig registryConfig,
      String topic, Map<String, ?> clientProperties) {
    Map<String, Object> config = consumerConfig(bootstrapServers, clientProperties);
    SchemaRegistryClient registry = new SchemaRegistryClient(registryConfig);
    try {
      return new CheckpointReader(registry, new KafkaConsumer<>(config, new StringDeserializer(),
          new SkippingDeserializer<>(AvroDeserializer.specific(CheckpointRecord.class, registry))),
          topic);
    } catch (RuntimeException e) {
      registry.close();
      throw e;
    }
  }

  /**
   * How a checkpoint topic is read: read_committed, so a checkpoint is seen whole or not at all,
   * no offsets committed, and fetches large enough for a chunk.
   */
  public static Map<String, Object> consumerConfig(String bootstrapServers,
      Map<String, ?> clientProperties) {
    Map<String, Object> config = SchemaRegistryConfig.kafkaOnly(clientProperties);
    config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    config.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 4 * 1_048_576);
    return config;
  }

  /**
   * The newest complete checkpoint of {@code adapter} whose files parse, or empty when it has
   * none; malformed records and checkpoints are skipped with a log line.
   *
   * @throws CheckpointLookupException when the topic could not be read
   */
  public Optional<Checkpoint> newest(String adapter) {
    return CheckpointLocator.newest(consumer, topic, adapter, Duration.ofSeconds(60),
        CheckpointFiles::parses);
  }

  /**
   * Checkpoint {@code version} of {@code adapter}, complete and parsing, or empty when it is not
   * on the topic (never written, incomplete, or deleted by the topic's retention).
   */
  public Optional<Checkpoint> version(String adapter, long version) {
    return CheckpointLocator.newest(consumer, topic, adapter, Duration.ofSeconds(60),
        c -> c.version() == version && CheckpointFiles.parses(c));
  }

  /**
   * The manifests of {@code adapter}'s checkpoints on the topic by version (the last one
   * written for a version), oldest first, at most {@code max} (the newest): what a report draws.
   * Chunks are read past, not kept; a record that does not decode or names another adapter is
   * skipped.
   *
   * @throws CheckpointLookupException when the topic could not be read to its end in time
   */
  public java.util.SortedMap<Long, io.continualsft.avro.CheckpointManifest> manifests(
      String adapter, int max) {
    return CheckpointLocator.manifests(consumer, topic, adapter, max, Duration.ofSeconds(60));
  }

  /** Every manifest on the topic, by adapter and version (chunks read past). */
  public java.util.SortedMap<String, java.util.SortedMap<Long,
      io.continualsft.avro.CheckpointManifest>> allManifests() {
    return CheckpointLocator.allManifests(consumer, topic, Duration.ofSeconds(600));
  }

  @Override
  public void close() {
    consumer.close();
    registry.close();
  }
}
