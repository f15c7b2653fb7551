package io.continualsft.trainer.checkpoint;

import io.continualsft.avro.AdapterRelease;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroSerializer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.avro.generic.GenericContainer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The one way checkpoints and releases are written, by the trainer, {@code train --publish} and
 * {@code release}: an adapter's records go to the partition its name hashes to on each topic
 * (so a reader finds them by name, {@link CheckpointLocator}), a checkpoint's chunks and then its
 * manifest, with its release when it has one, in the producer's open transaction. A reader
 * with read_committed sees the whole checkpoint and its release, or neither.
 */
public final class CheckpointPublisher {
  private final Producer<String, Object> producer;
  private final String checkpointTopic;
  private final String releasesTopic;

  public CheckpointPublisher(Producer<String, Object> producer, String checkpointTopic,
      String releasesTopic) {
    this.producer = producer;
    this.checkpointTopic = checkpointTopic;
    this.releasesTopic = releasesTopic;
  }

  /**
   * A transactional producer of checkpoint and release records through {@code registry}:
   * idempotent, acks=all, requests large enough for a chunk of {@code chunkBytes}.
   *
   * @param clientProperties any other Kafka client setting (security, timeouts); registry keys
   *     are left out
   */
  @SuppressWarnings({"unchecked", "rawtypes"})
  public static KafkaProducer<String, Object> producer(String bootstrapServers,
      Map<String, ?> clientProperties, SchemaRegistryClient registry, String transactionalId,
      int chunkBytes) {
    Map<String, Object> c = new LinkedHashMap<>(SchemaRegistryConfig.kafkaOnly(clientProperties));
    c.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    c.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
    c.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    c.put(ProducerConfig.ACKS_CONFIG, "all");
    c.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, Math.max(1_048_576, chunkBytes + 65_536));
    AvroSerializer<GenericContainer> values = new AvroSerializer(registry, false);
    return new KafkaProducer(c, new StringSerializer(), values);
  }

  /** A checkpoint's records, sent; where they are is known once their transaction commits. */
  public static final class Sent {
    private final TopicPartition partition;
    private final Future<RecordMetadata> first;
    private final Future<RecordMetadata> last;

    private Sent(TopicPartition partition, Future<RecordMetadata> first,
        Future<RecordMetadata> last) {
      this.partition = partition;
      this.first = first;
      this.last = last;
    }

    /** Where the committed records are, when the producer says (null otherwise). */
    public CheckpointSource.Written written() {
      try {
        if (first == null || !first.isDone() || !last.isDone()) {
          return null;
        }
        long from = first.get().offset();
        long to = last.get().offset();
        return from >= 0 && to >= from ? new CheckpointSource.Written(partition, from, to)
            : null;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return null;
      } catch (ExecutionException e) {
        return null;
      }
    }
  }

  /** Sends {@code records} (one version of {@code adapter}: chunks, then the manifest). */
  public Sent send(String adapter, List<CheckpointRecord> records) {
    int partition = CheckpointLocator.partitionFor(adapter,
        producer.partitionsFor(checkpointTopic).size());
    Future<RecordMetadata> first = null;
    Future<RecordMetadata> last = null;
    for (CheckpointRecord r : records) {
      last = producer.send(new ProducerRecord<>(checkpointTopic, partition, adapter, r));
      first = first == null ? last : first;
    }
    return new Sent(new TopicPartition(checkpointTopic, partition), first, last);
  }

  /** Sends {@code release}, keyed by its adapter (the releases topic is compacted by it). */
  public Future<RecordMetadata> send(AdapterRelease release) {
    String adapter = release.getAdapter();
    return producer.send(new ProducerRecord<>(releasesTopic, CheckpointLocator.partitionFor(
        adapter, producer.partitionsFor(releasesTopic).size()), adapter, release));
  }

  public Producer<String, Object> producer() {
    return producer;
  }
}
