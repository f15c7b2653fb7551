package io.continualsft.schemas;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.junit.jupiter.api.Test;

class AdapterPartitionsTest {
  @Test
  void anAdaptersPartitionIsTheOneKafkaPicksForTheAdapterNameAsKey() {
    for (String adapter : new String[] {"default", "acme", "tenant-7", "a.b_c", "租户"}) {
      for (int partitions : new int[] {1, 2, 3, 6, 12}) {
        assertThat(AdapterPartitions.partitionFor(adapter, partitions)).as(adapter)
            .isEqualTo(BuiltInPartitioner.partitionForKey(
                adapter.getBytes(StandardCharsets.UTF_8), partitions));
      }
    }
  }

  @Test
  void twelveAdaptersSpreadOverSixPartitions() {
    java.util.Set<Integer> used = new java.util.HashSet<>();
    for (int i = 0; i < 12; i++) {
      used.add(AdapterPartitions.partitionFor("tenant-" + i, 6));
    }
    assertThat(used).hasSizeGreaterThan(3);
  }
}
