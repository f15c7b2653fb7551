package io.continualsft.trainer.testing;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

/**
 * Kafka's {@link MockConsumer} over a log that stays: each poll returns the records from the
 * current position on (MockConsumer alone forgets a record once polled, so seeking back finds
 * nothing), and a poll with nothing left moves the position to the end offset, as a real
 * consumer steps over transaction markers.
 */
public class LogConsumer<K, V> extends MockConsumer<K, V> {
  private final Map<TopicPartition, List<ConsumerRecord<K, V>>> log = new HashMap<>();
  private final Map<TopicPartition, Long> ends = new HashMap<>();
  private final int maxPollRecords;
  private String groupId = "test-group";

  public LogConsumer(int maxPollRecords) {
    super("earliest");
    this.maxPollRecords = maxPollRecords;
  }

  /** The group whose metadata {@link #groupMetadata()} gives (what transactions commit to). */
  public LogConsumer<K, V> inGroup(String groupId) {
    this.groupId = groupId;
    return this;
  }

  @Override
  public synchronized org.apache.kafka.clients.consumer.ConsumerGroupMetadata groupMetadata() {
    return new org.apache.kafka.clients.consumer.ConsumerGroupMetadata(groupId, 1, "member-1",
        java.util.Optional.empty());
  }

  /** A topic of {@code partitions} empty partitions starting at offset 0. */
  public synchronized void createTopic(String topic, int partitions) {
    List<PartitionInfo> infos = new ArrayList<>();
    Map<TopicPartition, Long> zeros = new HashMap<>();
    for (int p = 0; p < partitions; p++) {
      infos.add(new PartitionInfo(topic, p, null, null, null));
      TopicPartition tp = new TopicPartition(topic, p);
      zeros.put(tp, 0L);
      log.put(tp, new ArrayList<>());
      ends.put(tp, 0L);
    }
    updatePartitions(topic, infos);
    updateBeginningOffsets(zeros);
    updateEndOffsets(zeros);
  }

  /** Appends a record at the partition's end; {@code gap} offsets after it hold a marker. */
  public synchronized long append(TopicPartition tp, K key, V value, int gap) {
    long offset = ends.get(tp);
    log.get(tp).add(new ConsumerRecord<>(tp.topic(), tp.partition(), offset, key, value));
    ends.put(tp, offset + 1 + gap);
    updateEndOffsets(Map.of(tp, offset + 1 + gap));
    return offset;
  }

  @Override
  public synchronized ConsumerRecords<K, V> poll(Duration timeout) {
    if (assignment().isEmpty() && !subscription().isEmpty()) {
      // A group of one: every partition of the subscribed topics, through the listener.
      List<TopicPartition> all = new ArrayList<>();
      for (String topic : subscription()) {
        partitionsFor(topic).forEach(p -> all.add(new TopicPartition(topic, p.partition())));
      }
      rebalance(all);
    }
    for (TopicPartition tp : assignment()) {
      long position = position(tp);
      int added = 0;
      for (ConsumerRecord<K, V> r : log.getOrDefault(tp, List.of())) {
        if (r.offset() >= position && added < maxPollRecords) {
          addRecord(r);
          added++;
        }
      }
      if (added == 0 && position < ends.getOrDefault(tp, 0L)) {
        seek(tp, ends.get(tp)); // nothing but markers left
      }
    }
    return super.poll(timeout);
  }
}
