package io.continualsft.trainer.release;

import io.continualsft.avro.AdapterRelease;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.trainer.checkpoint.AdapterPartition;
import io.continualsft.trainer.checkpoint.CheckpointLookupException;
import io.continualsft.trainer.checkpoint.CheckpointReader;
import io.continualsft.trainer.checkpoint.SkippingDeserializer;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the current release of an adapter from the releases topic: the adapter's partition
 * (chosen from its id as for checkpoints) read backwards in growing windows from its end, until
 * a window holds a record of the adapter. On a compacted topic that is one record's worth of
 * reading. Records that do not decode (they reach here as null, through a {@link
 * SkippingDeserializer}), records whose key and adapter disagree, and releases of a version
 * below 1 are skipped with a log line: a stranger's record cannot stop a reader.
 */
public final class ReleaseLog implements ReleaseSource, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ReleaseLog.class);

  private final Consumer<String, AdapterRelease> consumer;
  private final String topic;
  private final Duration patience;
  private final AutoCloseable alsoClose;

  public ReleaseLog(Consumer<String, AdapterRelease> consumer, String topic, Duration patience,
      AutoCloseable alsoClose) {
    this.consumer = consumer;
    this.topic = topic;
    this.patience = patience;
    this.alsoClose = alsoClose;
  }

  /** A reader with its own registry client and consumer (read_committed, no group). */
  public static ReleaseLog open(String bootstrapServers, SchemaRegistryConfig registryConfig,
      String topic, Map<String, ?> clientProperties) {
    SchemaRegistryClient registry = new SchemaRegistryClient(registryConfig);
    try {
      return new ReleaseLog(consumer(bootstrapServers, clientProperties, registry), topic,
          Duration.ofSeconds(60), registry);
    } catch (RuntimeException e) {
      registry.close();
      throw e;
    }
  }

  /** A consumer of the releases topic as this class reads it, through {@code registry}. */
  public static KafkaConsumer<String, AdapterRelease> consumer(String bootstrapServers,
      Map<String, ?> clientProperties, SchemaRegistryClient registry) {
    return new KafkaConsumer<>(CheckpointReader.consumerConfig(bootstrapServers,
        clientProperties), new StringDeserializer(),
        new SkippingDeserializer<>(AvroDeserializer.specific(AdapterRelease.class, registry)));
  }

  @Override
  public Optional<AdapterRelease> current(String adapter) {
    return current(consumer, topic, adapter, patience);
  }

  /**
   * The newest valid release of {@code adapter} on {@code topic}; {@code consumer} is assigned
   * and sought here.
   *
   * @throws CheckpointLookupException when the partition could not be read within patience
   */
  public static Optional<AdapterRelease> current(Consumer<String, AdapterRelease> consumer,
      String topic, String adapter, Duration patience) {
    if (consumer.partitionsFor(topic).isEmpty()) {
      throw new CheckpointLookupException("the releases topic " + topic + " does not exist;"
          + " create it with cleanup.policy=compact (topic.releases names it; docs/releases.md)");
    }
    TopicPartition tp = AdapterPartition.of(consumer, topic, adapter);
    return AdapterPartition.searchBackwards(consumer, tp, 16, patience, (window, atBeginning) -> {
      AdapterRelease newest = null;
      for (ConsumerRecord<String, AdapterRelease> r : window) {
        if (!adapter.equals(r.key())) {
          continue;
        }
        AdapterRelease v = r.value();
        // Version 0 is a release only as an erasure's "serve none" (decision REVOKED).
        if (v == null || !adapter.equals(v.getAdapter()) || v.getVersion() < 0
            || (v.getVersion() == 0 && v.getDecision() != io.continualsft.avro.ReleaseDecision
                .REVOKED) || v.getHistory().size() > Releases.MAX_HISTORY) {
          log.warn("skipping record {} of {}: not a valid release of adapter {}", r.offset(), tp,
              adapter);
          continue;
        }
        newest = v;
      }
      return newest != null || atBeginning
          ? new AdapterPartition.Answer.Found<>(Optional.ofNullable(newest))
          : new AdapterPartition.Answer.Widen<>(Long.MAX_VALUE);
    });
  }

  @Override
  public void close() {
    consumer.close();
    if (alsoClose != null) {
      try {
        alsoClose.close();
      } catch (Exception e) {
        log.warn("closing {} failed: {}", alsoClose, e.toString());
      }
    }
  }
}
