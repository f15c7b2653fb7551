package io.continualsft.trainer.checkpoint;

import java.util.Optional;
import java.util.function.LongPredicate;

/** Where a trainer finds checkpoints: the checkpoint topic, or a test's list. */
@FunctionalInterface
public interface CheckpointSource {
  /** The newest complete checkpoint of {@code adapter} whose version {@code versions} accepts. */
  Optional<Checkpoint> newest(String adapter, LongPredicate versions);

  /** The newest complete checkpoint of {@code adapter}, or empty when it has none. */
  default Optional<Checkpoint> newest(String adapter) {
    return newest(adapter, v -> true);
  }

  /** Checkpoint {@code version} of {@code adapter}, when it is there and complete. */
  default Optional<Checkpoint> version(String adapter, long version) {
    return newest(adapter, v -> v == version);
  }

  /**
   * Checkpoint {@code version} of {@code adapter}, whose records the caller wrote at {@code
   * where}: a source that can read just those records does (a trainer restoring an adapter it
   * evicted), else it searches as {@link #version} does.
   */
  default Optional<Checkpoint> written(String adapter, long version, Written where) {
    return version(adapter, version);
  }

  /**
   * Every manifest of {@code adapter} on the topic by version, oldest first (chunks read past):
   * the lineage an erasure examines.
   */
  default java.util.SortedMap<Long, io.continualsft.avro.CheckpointManifest> manifests(
      String adapter) {
    throw new UnsupportedOperationException("this checkpoint source keeps no lineage");
  }

  /**
   * Every adapter's manifests on the topic, by adapter and version: what an erasure examines for
   * the adapters a trainer has not read an example of since it took their partition.
   */
  default java.util.SortedMap<String, java.util.SortedMap<Long,
      io.continualsft.avro.CheckpointManifest>> allManifests() {
    return new java.util.TreeMap<>();
  }

  /** Where a checkpoint's records were written: offsets {@code first} to {@code last} of {@code partition}. */
  record Written(org.apache.kafka.common.TopicPartition partition, long first, long last) {}
}
