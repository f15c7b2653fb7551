package io.continualsft.streams.state;

import java.util.Map;
import org.apache.kafka.streams.state.RocksDBConfigSetter;
import org.rocksdb.BlockBasedTableConfig;
import org.rocksdb.Cache;
import org.rocksdb.LRUCache;
import org.rocksdb.Options;
import org.rocksdb.WriteBufferManager;

/**
 * Bounds the off-heap memory of every RocksDB store of this instance together, as Kafka Streams'
 * memory-management guide prescribes: one LRU cache shared by all stores holds block cache,
 * index and filter blocks, and memtables are charged to it through a shared write-buffer
 * manager. Without it each store (and each segment of the dedup window store) sizes its own
 * caches and memtables, so off-heap memory grows with the number of segments and partitions and
 * a container's memory limit cannot be set with confidence.
 *
 * <p>The bound is {@value #MEMORY_BYTES_CONFIG} (bytes) from the Streams configuration, read once
 * by the first store opened; a quarter of it may go to memtables.
 */
public final class BoundedRocksDbConfig implements RocksDBConfigSetter {
  public static final String MEMORY_BYTES_CONFIG = "rocksdb.memory-bytes";
  public static final long DEFAULT_MEMORY_BYTES = 64L * 1024 * 1024;

  private static Cache cache;
  private static WriteBufferManager writeBuffers;

  private static synchronized void init(Map<String, Object> configs) {
    if (cache != null) {
      return;
    }
    Object configured = configs.get(MEMORY_BYTES_CONFIG);
    long total = configured == null ? DEFAULT_MEMORY_BYTES
        : Long.parseLong(configured.toString().trim());
    // Index and filter blocks get high priority, so they are the last to be evicted.
    cache = new LRUCache(total, -1, false, 0.1);
    writeBuffers = new WriteBufferManager(total / 4, cache);
  }

  @Override
  public void setConfig(String storeName, Options options, Map<String, Object> configs) {
    init(configs);
    BlockBasedTableConfig table = (BlockBasedTableConfig) options.tableFormatConfig();
    table.setBlockCache(cache);
    table.setCacheIndexAndFilterBlocks(true);
    table.setCacheIndexAndFilterBlocksWithHighPriority(true);
    table.setPinTopLevelIndexAndFilter(true);
    options.setWriteBufferManager(writeBuffers);
    options.setTableFormatConfig(table);
  }

  @Override
  public void close(String storeName, Options options) {
    // The cache and write-buffer manager are shared by every store: never closed per store.
  }
}
