package io.continualsft.schemas;

import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.utils.Utils;

/**
 * Which partition an adapter's records go to, on every topic partitioned by adapter: examples,
 * checkpoints, releases. Kafka's default partitioner's function of the adapter name (murmur2 of
 * its UTF-8 bytes), so a record keyed by the adapter name lands where this says, and so a
 * stream partitioned here by adapter but keyed otherwise (examples keep the conversation id as
 * their key) keeps each adapter's examples in one partition, in order.
 */
public final class AdapterPartitions {
  private AdapterPartitions() {}

  public static int partitionFor(String adapter, int partitions) {
    if (partitions < 1) {
      throw new IllegalArgumentException("a topic has at least one partition, got " + partitions);
    }
    return Utils.toPositive(Utils.murmur2(adapter.getBytes(StandardCharsets.UTF_8))) % partitions;
  }
}
