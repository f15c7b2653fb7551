package io.continualsft.trainer.checkpoint;

import io.continualsft.avro.CheckpointChunk;
import io.continualsft.avro.CheckpointManifest;
import io.continualsft.avro.CheckpointRecord;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds the newest complete checkpoint of an adapter without reading the topic from the
 * beginning: an adapter's records all go to one partition (chosen from its id, as Kafka's default
 * partitioner would), and that partition is read backwards in growing windows from its end until
 * a window holds a manifest whose chunks all verify. A topic that has run for months costs one
 * checkpoint's worth of reading, not months of it.
 */
public final class CheckpointLocator {
  private static final Logger log = LoggerFactory.getLogger(CheckpointLocator.class);

  private CheckpointLocator() {}

  /** The partition an adapter's checkpoint records go to. */
  public static int partitionFor(String adapter, int partitions) {
    return io.continualsft.schemas.AdapterPartitions.partitionFor(adapter, partitions);
  }

  /** The newest complete checkpoint of {@code adapter}, whatever its content. */
  public static Optional<Checkpoint> newest(Consumer<String, CheckpointRecord> consumer,
      String topic, String adapter, Duration patience) {
    return newest(consumer, topic, adapter, patience, c -> true);
  }

  /**
   * The newest complete checkpoint of {@code adapter} that {@code usable} accepts, or empty when
   * there is none. {@code consumer} must read with isolation.level=read_committed; it is assigned
   * and sought here. Records that do not decode must reach here as null values (a
   * {@link SkippingDeserializer}); checkpoints that are incomplete, fail a checksum, name a file
   * outside the allow-list or that {@code usable} refuses are skipped with a log line.
   *
   * @throws CheckpointLookupException when the partition could not be read within {@code
   *     patience}: that is not "no checkpoint"
   */
  public static Optional<Checkpoint> newest(Consumer<String, CheckpointRecord> consumer,
      String topic, String adapter, Duration patience, Predicate<Checkpoint> usable) {
    TopicPartition tp = AdapterPartition.of(consumer, topic, adapter);
    return AdapterPartition.searchBackwards(consumer, tp, 64, patience, (window, atBeginning) -> {
      Optional<Optional<Checkpoint>> found = newestIn(window.stream().map(ConsumerRecord::value)
          .filter(v -> v != null).toList(), adapter, atBeginning, usable);
      return found.isPresent() ? new AdapterPartition.Answer.Found<>(found.get())
          : new AdapterPartition.Answer.Widen<>(chunksStartAtMost(window, adapter));
    });
  }

  /**
   * Where the chunks of the window's newest manifest of {@code adapter} start at the latest: its
   * chunk records precede it in one transaction, so at or before its offset less their number
   * (other adapters' records may lie between). Saves re-reading a large checkpoint in windows
   * that grow by 4 only.
   */
  private static long chunksStartAtMost(List<ConsumerRecord<String, CheckpointRecord>> window,
      String adapter) {
    long at = Long.MAX_VALUE;
    long newestVersion = Long.MIN_VALUE;
    for (ConsumerRecord<String, CheckpointRecord> r : window) {
      CheckpointRecord v = r.value();
      if (v != null && v.getAdapter().equals(adapter)
          && v.getPayload() instanceof CheckpointManifest m && v.getVersion() > newestVersion) {
        newestVersion = v.getVersion();
        long chunks = 0;
        for (var f : m.getFiles()) {
          chunks += Math.max(0, f.getChunks());
        }
        at = r.offset() - Math.min(chunks, r.offset());
      }
    }
    return at;
  }

  /**
   * Newest first, the first manifest of {@code adapter} whose chunks are all there and verify.
   * Empty (read further back) when the newest manifest's chunks may lie before the window;
   * a present empty answer means "none in the whole partition".
   */
  static Optional<Optional<Checkpoint>> newestIn(List<CheckpointRecord> records, String adapter,
      boolean windowStartsAtBeginning, Predicate<Checkpoint> usable) {
    List<CheckpointRecord> manifests = records.stream()
        .filter(r -> r.getAdapter().equals(adapter) && r.getPayload() instanceof CheckpointManifest)
        .sorted(Comparator.comparingLong(CheckpointRecord::getVersion).reversed())
        .toList();
    for (CheckpointRecord m : manifests) {
      // Only chunks written before their manifest count (one transaction writes the chunks, then
      // the manifest): a chunk forged after a manifest cannot displace the one it closes.
      List<CheckpointChunk> chunks = records.subList(0, positionOf(records, m)).stream()
          .filter(r -> r.getAdapter().equals(adapter) && r.getVersion() == m.getVersion()
              && r.getPayload() instanceof CheckpointChunk)
          .map(r -> (CheckpointChunk) r.getPayload())
          .toList();
      CheckpointManifest manifest = (CheckpointManifest) m.getPayload();
      Optional<Map<String, byte[]>> files = CheckpointCodec.assemble(manifest, chunks);
      if (files.isPresent()) {
        Checkpoint candidate = new Checkpoint(adapter, m.getVersion(), manifest, files.get());
        if (usable.test(candidate)) {
          return Optional.of(Optional.of(candidate));
        }
        continue; // refused (and logged) by usable: the one before it
      }
      if (!windowStartsAtBeginning) {
        return Optional.empty(); // its chunks may be further back: widen the window
      }
      log.warn("skipping checkpoint v{} of adapter {}: its chunks are missing, do not add up,"
          + " fail their checksum or name a file outside {}", m.getVersion(), adapter,
          CheckpointCodec.FILE_NAMES);
    }
    return windowStartsAtBeginning ? Optional.of(Optional.empty()) : Optional.empty();
  }

  private static int positionOf(List<CheckpointRecord> records, CheckpointRecord record) {
    for (int i = 0; i < records.size(); i++) {
      if (records.get(i) == record) {
        return i;
      }
    }
    throw new IllegalArgumentException("not in the list");
  }

  /**
   * A {@link CheckpointSource} that opens a consumer from {@code consumers} for each lookup
   * (a trainer looks up at start, and when the release it is gated against changes) and waits
   * up to {@code patience} for each window.
   */
  public static CheckpointSource source(Supplier<Consumer<String, CheckpointRecord>> consumers,
      String topic, Duration patience, Predicate<Checkpoint> usable) {
    return (adapter, versions) -> {
      try (Consumer<String, CheckpointRecord> consumer = consumers.get()) {
        return newest(consumer, topic, adapter, patience,
            c -> versions.test(c.version()) && usable.test(c));
      }
    };
  }

  /**
   * Checkpoint {@code version} of {@code adapter} from exactly the records {@code where} names
   * (read_committed, so they are there only once their transaction committed), verified as any
   * other; empty when they do not hold it (deleted by retention, the topic recreated).
   */
  public static Optional<Checkpoint> readWritten(Consumer<String, CheckpointRecord> consumer,
      String adapter, long version, CheckpointSource.Written where, Duration patience,
      Predicate<Checkpoint> usable) {
    TopicPartition tp = where.partition();
    consumer.assign(List.of(tp));
    long begin = consumer.beginningOffsets(List.of(tp)).get(tp);
    if (where.first() < begin) {
      return Optional.empty();
    }
    List<CheckpointRecord> records = AdapterPartition.read(consumer, tp, where.first(),
        where.last() + 1, patience).stream().map(ConsumerRecord::value)
        .filter(v -> v != null).toList();
    return newestIn(records, adapter, true, c -> c.version() == version && usable.test(c))
        .orElse(Optional.empty());
  }

  /**
   * The manifests of {@code adapter}'s checkpoints on the topic by version (the last one written
   * for a version), oldest first, at most {@code max} (the newest). Chunks are read past, not
   * kept; a record that does not decode or names another adapter is skipped.
   *
   * @throws CheckpointLookupException when the topic could not be read to its end in time
   */
  public static java.util.SortedMap<Long, CheckpointManifest> manifests(
      Consumer<String, CheckpointRecord> consumer, String topic, String adapter, int max,
      Duration patience) {
    java.util.TreeMap<Long, CheckpointManifest> byVersion = new java.util.TreeMap<>();
    eachManifest(consumer, List.of(AdapterPartition.of(consumer, topic, adapter)), patience,
        (record, m) -> {
          if (adapter.equals(record.getAdapter())) {
            byVersion.put(record.getVersion(), m);
            if (byVersion.size() > max) {
              byVersion.pollFirstEntry();
            }
          }
        });
    return java.util.Collections.unmodifiableSortedMap(byVersion);
  }

  /**
   * Every manifest on the topic, by adapter (in name order) and version (the last one written
   * for a version): what {@code lineage --subject} searches. Chunks are read past.
   *
   * @throws CheckpointLookupException when the topic could not be read to its end in time
   */
  public static java.util.SortedMap<String, java.util.SortedMap<Long, CheckpointManifest>>
      allManifests(Consumer<String, CheckpointRecord> consumer, String topic,
          Duration patience) {
    java.util.TreeMap<String, java.util.SortedMap<Long, CheckpointManifest>> out =
        new java.util.TreeMap<>();
    eachManifest(consumer, consumer.partitionsFor(topic, patience).stream()
        .map(p -> new TopicPartition(topic, p.partition())).toList(), patience,
        (record, m) -> out.computeIfAbsent(record.getAdapter(), a -> new java.util.TreeMap<>())
            .put(record.getVersion(), m));
    return out;
  }

  /**
   * Reads {@code tps} from their beginning to their end (read_committed: the last stable
   * offset) and hands each manifest record, in offset order, to {@code each}: a decoded record
   * keyed by its own adapter, of a version from 1. Chunks are read past, not kept.
   */
  private static void eachManifest(Consumer<String, CheckpointRecord> consumer,
      List<TopicPartition> tps, Duration patience,
      java.util.function.BiConsumer<CheckpointRecord, CheckpointManifest> each) {
    consumer.assign(tps);
    consumer.seekToBeginning(tps);
    Map<TopicPartition, Long> end = consumer.endOffsets(tps);
    java.time.Instant deadline = java.time.Instant.now().plus(patience);
    while (tps.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
      if (java.time.Instant.now().isAfter(deadline)) {
        throw new CheckpointLookupException("reading " + tps + " to offsets " + end
            + " took more than " + patience);
      }
      for (ConsumerRecord<String, CheckpointRecord> r : consumer.poll(Duration.ofMillis(500))) {
        CheckpointRecord v = r.value();
        if (v != null && v.getAdapter().equals(r.key()) && v.getVersion() >= 1
            && v.getPayload() instanceof CheckpointManifest m) {
          each.accept(v, m);
        }
      }
    }
  }
}
