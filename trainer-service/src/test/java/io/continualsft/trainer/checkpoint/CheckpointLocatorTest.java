package io.continualsft.trainer.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.CheckpointChunk;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.trainer.testing.LogConsumer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * The newest complete checkpoint of an adapter, read backwards from the end of its partition in
 * growing windows, over a consumer that behaves as Kafka's does.
 */
class CheckpointLocatorTest {
  static final String TOPIC = "checkpoints";
  static final Duration PATIENCE = Duration.ofSeconds(5);

  private final LogConsumer<String, CheckpointRecord> consumer = new LogConsumer<>(50);

  /** Writes version {@code version} of {@code adapter}: its file in chunks of 100 bytes. */
  private CheckpointSource.Written write(String adapter, long version, int fileBytes,
      boolean dropAChunk) {
    byte[] file = new byte[fileBytes];
    for (int i = 0; i < file.length; i++) {
      file[i] = (byte) (i + version);
    }
    List<CheckpointRecord> records = CheckpointCodec.encode(adapter, version,
        Map.of("adapter_model.safetensors", file), CheckpointCodecTest.manifest().setStep(version), 100);
    TopicPartition tp = partitionOf(adapter);
    long first = -1;
    long last = -1;
    for (int i = 0; i < records.size(); i++) {
      if (dropAChunk && i == 1) {
        continue;
      }
      last = consumer.append(tp, adapter, records.get(i), i == records.size() - 1 ? 1 : 0);
      first = first < 0 ? last : first;
    }
    return new CheckpointSource.Written(tp, first, last);
  }

  @Test
  void aCheckpointIsReadBackFromTheRecordsItsWriterNames() {
    consumer.createTopic(TOPIC, 3);
    write("a", 1, 250, false);
    CheckpointSource.Written second = write("a", 2, 250, false);
    write("b", 1, 250, false);
    write("a", 3, 250, false);
    Checkpoint c = CheckpointLocator.readWritten(consumer, "a", 2, second, PATIENCE, x -> true)
        .orElseThrow();
    assertThat(c.version()).isEqualTo(2);
    assertThat(c.files().get("adapter_model.safetensors")).startsWith((byte) 2, (byte) 3);
    assertThat(CheckpointLocator.readWritten(consumer, "a", 3, second, PATIENCE, x -> true))
        .as("another version than the records hold").isEmpty();
    assertThat(CheckpointLocator.readWritten(consumer, "a", 2, second, PATIENCE, x -> false))
        .as("refused by the check").isEmpty();
    CheckpointSource.Written broken = write("a", 4, 250, true);
    assertThat(CheckpointLocator.readWritten(consumer, "a", 4, broken, PATIENCE, x -> true))
        .as("a chunk missing").isEmpty();
  }

  private static TopicPartition partitionOf(String adapter) {
    return new TopicPartition(TOPIC, CheckpointLocator.partitionFor(adapter, 3));
  }

  private Optional<Checkpoint> newest(String adapter) {
    return CheckpointLocator.newest(consumer, TOPIC, adapter, PATIENCE);
  }

  @Test
  void anAdapterLivesInThePartitionKafkasDefaultPartitionerPicksForItsKey() {
    for (String adapter : List.of("default", "tenant-7", "客服", "")) {
      byte[] key = adapter.getBytes(StandardCharsets.UTF_8);
      for (int partitions : List.of(1, 3, 12)) {
        assertThat(CheckpointLocator.partitionFor(adapter, partitions))
            .isEqualTo(BuiltInPartitioner.partitionForKey(key, partitions));
      }
    }
  }

  @Test
  void theNewestOfSeveralVersionsIsFoundAndItsFilesVerify() {
    consumer.createTopic(TOPIC, 3);
    for (long v = 1; v <= 4; v++) {
      write("a", v, 250, false);
    }
    Checkpoint c = newest("a").orElseThrow();
    assertThat(c.version()).isEqualTo(4);
    assertThat(c.manifest().getStep()).isEqualTo(4);
    assertThat(c.files().get("adapter_model.safetensors")).hasSize(250).startsWith((byte) 4, (byte) 5);
  }

  @Test
  void aCheckpointLongerThanTheFirstWindowIsReadInAWiderOne() {
    consumer.createTopic(TOPIC, 3);
    write("a", 1, 250, false);
    write("a", 2, 10_000, false); // 100 chunks and a manifest: more than the first 64 records
    Checkpoint c = newest("a").orElseThrow();
    assertThat(c.version()).isEqualTo(2);
    assertThat(c.files().get("adapter_model.safetensors")).hasSize(10_000);
  }

  @Test
  void anIncompleteNewestVersionIsPassedOverForTheNewestCompleteOne() {
    consumer.createTopic(TOPIC, 3);
    write("a", 1, 250, false);
    write("a", 2, 250, false);
    write("a", 3, 250, true);
    assertThat(newest("a").orElseThrow().version()).isEqualTo(2);
  }

  @Test
  void otherAdaptersInTheSamePartitionAreNotMistakenForIt() {
    consumer.createTopic(TOPIC, 1);
    LogConsumer<String, CheckpointRecord> single = consumer;
    TopicPartition only = new TopicPartition(TOPIC, 0);
    for (long v = 1; v <= 3; v++) {
      for (String adapter : List.of("a", "b")) {
        List<CheckpointRecord> records = CheckpointCodec.encode(adapter, v,
            Map.of("adapter_model.safetensors", new byte[] {(byte) v}), CheckpointCodecTest.manifest(), 100);
        records.forEach(r -> single.append(only, adapter, r, 0));
      }
    }
    Optional<Checkpoint> a = CheckpointLocator.newest(single, TOPIC, "a", PATIENCE);
    assertThat(a.orElseThrow().adapter()).isEqualTo("a");
    assertThat(a.orElseThrow().version()).isEqualTo(3);
    assertThat(CheckpointLocator.newest(single, TOPIC, "c", PATIENCE)).isEmpty();
  }

  @Test
  void anAdapterWithoutCheckpointsHasNone() {
    consumer.createTopic(TOPIC, 3);
    assertThat(newest("a")).isEmpty();
    write("b", 1, 250, false);
    if (!partitionOf("a").equals(partitionOf("b"))) {
      assertThat(newest("a")).isEmpty();
    }
  }

  @Test
  void chunksAloneWithoutTheirManifestAreNoCheckpoint() {
    consumer.createTopic(TOPIC, 3);
    List<CheckpointRecord> records = CheckpointCodec.encode("a", 1,
        Map.of("adapter_model.safetensors", new byte[300]), CheckpointCodecTest.manifest(), 100);
    records.stream().filter(r -> r.getPayload() instanceof CheckpointChunk)
        .forEach(r -> consumer.append(partitionOf("a"), "a", r, 0));
    assertThat(newest("a")).isEmpty();
  }

  @Test
  void aCheckpointItsReaderRefusesIsSkippedForTheOneBefore() {
    consumer.createTopic(TOPIC, 3);
    write("a", 1, 250, false);
    write("a", 2, 250, false);
    Optional<Checkpoint> found = CheckpointLocator.newest(consumer, TOPIC, "a", PATIENCE,
        c -> c.version() != 2);
    assertThat(found).map(Checkpoint::version).contains(1L);
  }

  @Test
  void aLookupThatCannotReadThePartitionIsAnErrorNotNoCheckpoint() {
    LogConsumer<String, CheckpointRecord> stalled = new LogConsumer<>(50) {
      @Override
      public synchronized org.apache.kafka.clients.consumer.ConsumerRecords<String, CheckpointRecord>
          poll(Duration timeout) {
        return org.apache.kafka.clients.consumer.ConsumerRecords.empty(); // a broker that never answers
      }
    };
    stalled.createTopic(TOPIC, 3);
    stalled.append(partitionOf("a"), "a", CheckpointCodec.encode("a", 1,
        Map.of("adapter_model.safetensors", new byte[10]), CheckpointCodecTest.manifest(), 100)
        .getFirst(), 0);
    org.assertj.core.api.Assertions.assertThatThrownBy(() ->
            CheckpointLocator.newest(stalled, TOPIC, "a", Duration.ofMillis(300)))
        .isInstanceOf(CheckpointLookupException.class)
        .hasMessageContaining("could not read " + partitionOf("a"));
  }

  @Test
  void aChunkForgedAfterAManifestCannotDisplaceTheOneItCloses() {
    consumer.createTopic(TOPIC, 3);
    write("a", 1, 250, false);
    consumer.append(partitionOf("a"), "a", io.continualsft.avro.CheckpointRecord.newBuilder()
        .setAdapter("a").setVersion(1).setPayload(io.continualsft.avro.CheckpointChunk.newBuilder()
            .setFile("adapter_model.safetensors").setIndex(0).setOffset(0)
            .setData(java.nio.ByteBuffer.wrap(new byte[100])).build()).build(), 0);
    assertThat(newest("a")).map(Checkpoint::version).contains(1L);
  }
}
