package io.continualsft.trainer.service;

import io.continualsft.avro.CheckpointManifest;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.PartitionOffset;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointFiles;
import io.continualsft.trainer.checkpoint.CheckpointSource;
import io.continualsft.trainer.checkpoint.TrainingState;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.erasure.Erasures;
import io.continualsft.trainer.erasure.Lineage;
import io.continualsft.trainer.model.ModelIdentity;
import io.continualsft.trainer.train.AdapterTraining;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Exact unlearning. For each adapter whose state an erasure touches (a version in its lineage, a
 * step since its last checkpoint, or the step being formed trained on an erased conversation):
 * the newest version of its chain that is clean, R, is published again as a new version that
 * revokes every version after R, and the group's offsets go back to R's, in one transaction; then
 * the trainer starts over from the committed offsets, so the adapter is restored from that new
 * version and retrained forward over the same log with the erased records skipped (as admission
 * now skips them). Steps are a function of the log, so what it trains is what a fresh trainer
 * would over the log without them. Adapters the erasure does not touch are checkpointed first
 * and lose nothing; a trainer killed in between resumes from the committed state either way.
 */
final class ErasureRewind {
  private static final Logger log = LoggerFactory.getLogger(ErasureRewind.class);

  private final TrainerSettings settings;
  private final Erasures erasures;
  private final ResidentAdapters adapters;
  private final CheckpointSource checkpoints;
  private final AdapterTraining training;
  private final ModelIdentity identity;
  private final CheckpointCutter cutter;
  private final TransactionalCommitter committer;
  private final Consumer<byte[], byte[]> consumer;
  private final TrainerMetrics metrics;
  private final Clock clock;
  private final io.continualsft.trainer.release.ReleaseSource releases;
  private final PartitionOwnership ownership;

  ErasureRewind(TrainerSettings settings, Erasures erasures, ResidentAdapters adapters,
      CheckpointSource checkpoints, AdapterTraining training, ModelIdentity identity,
      CheckpointCutter cutter, TransactionalCommitter committer,
      Consumer<byte[], byte[]> consumer, TrainerMetrics metrics, Clock clock,
      io.continualsft.trainer.release.ReleaseSource releases, PartitionOwnership ownership) {
    this.releases = releases;
    this.ownership = ownership;
    this.settings = settings;
    this.erasures = erasures;
    this.adapters = adapters;
    this.checkpoints = checkpoints;
    this.training = training;
    this.identity = identity;
    this.cutter = cutter;
    this.committer = committer;
    this.consumer = consumer;
    this.metrics = metrics;
    this.clock = clock;
  }

  /** An adapter an erasure touches: the versions it revokes and the clean one it goes back to. */
  record Touched(AdapterSlot slot, List<Long> revoked, Long restore,
      Map<TopicPartition, Long> offsets, long stepsToRetrain, java.util.Set<Long> versions) {}

  /**
   * Per owned partition, how far its adapters that this trainer has not read an example of were
   * looked for: not at all when it takes a partition, so a trainer that starts, or takes a
   * partition, with requests on the topic reads the checkpoint topic's manifests once (a request
   * may have arrived while no trainer held the partition).
   */
  private final Map<TopicPartition, Long> idleExaminedThrough = new LinkedHashMap<>();

  /** Whether some adapter has not been examined against every request read. */
  boolean due() {
    long through = erasures.count();
    return idleDue(through)
        || adapters.all().stream().anyMatch(s -> s.erasuresChecked < through);
  }

  /** Whether an owned partition's idle adapters were not looked for through {@code through}. */
  private boolean idleDue(long through) {
    if (!settings.everyAdapter()) {
      return false;
    }
    idleExaminedThrough.keySet().retainAll(ownership.positions().keySet());
    return ownership.positions().keySet().stream()
        .anyMatch(tp -> idleExaminedThrough.getOrDefault(tp, 0L) < through);
  }

  /**
   * Examines every adapter not yet examined against every request; rewinds those touched.
   * True when it rewound: the caller then starts over from the committed offsets.
   */
  boolean apply() {
    long through = erasures.count();
    if (idleDue(through)) {
      bringInIdleAdaptersTouched();
      ownership.positions().keySet().forEach(tp -> idleExaminedThrough.put(tp, through));
    }
    List<Touched> touched = new ArrayList<>();
    for (AdapterSlot slot : adapters.all()) {
      if (slot.erasuresChecked >= through) {
        continue;
      }
      Touched t = examine(slot);
      if (t == null) {
        slot.erasuresChecked = through;
      } else {
        touched.add(t);
      }
    }
    if (touched.isEmpty()) {
      return false;
    }
    List<AdapterSlot> rewound = touched.stream().map(Touched::slot).toList();
    for (AdapterSlot slot : adapters.all()) {
      if (!rewound.contains(slot)) {
        slot.books.settle();
        if (slot.books.dirty()) {
          cutter.cut(slot); // untouched: keeps what it trained
        }
      }
    }
    Map<String, List<CheckpointRecord>> records = new LinkedHashMap<>();
    Map<TopicPartition, Long> floor = new LinkedHashMap<>();
    List<String> reasons = erasures.requestIdsSince(
        touched.stream().mapToLong(t -> t.slot().erasuresChecked).min().orElse(0));
    String reason = "erasure requests " + String.join(", ", reasons.size() > 20
        ? reasons.subList(reasons.size() - 20, reasons.size()) : reasons)
        + (reasons.size() > 20 ? " (and " + (reasons.size() - 20) + " before)" : "");
    List<io.continualsft.avro.AdapterRelease> moved = new ArrayList<>();
    for (Touched t : touched) {
      t.offsets().forEach((tp, o) -> floor.merge(tp, o, Math::min));
      if (!t.revoked().isEmpty()) {
        records.put(t.slot().name, rewindPoint(t, through, reason));
        io.continualsft.trainer.release.Releases.revoke(releases.current(t.slot().name),
            t.slot().name, t.revoked(), reason, Instant.ofEpochMilli(clock.millis()),
            t.versions()::contains)
            .ifPresent(r -> {
              moved.add(r);
              if (r.getDecision() == io.continualsft.avro.ReleaseDecision.REVOKED) {
                log.warn("erasure: the release of {} was revoked; serving moves to {}",
                    t.slot().name, r.getVersion() == 0 ? "no adapter (no earlier release is"
                        + " clean)" : "v" + r.getVersion());
                metrics.releasedVersion(t.slot().name, r.getVersion());
              }
            });
      }
    }
    committer.rewind(records, moved, floor);
    for (Touched t : touched) {
      metrics.erasureRewind(t.revoked().size());
      metrics.stepsRetrained(t.stepsToRetrain());
      log.warn("erasure: adapter {} goes back to {} ({}); revoked {}; retraining {} steps from"
          + " offsets {}", t.slot().name, t.restore() == null ? "a fresh adapter"
              : "v" + t.restore(), t.revoked().isEmpty()
              ? "only steps not yet checkpointed were touched"
              : "published as v" + t.slot().books.nextVersion(),
          t.revoked().isEmpty() ? "nothing" : "v" + t.revoked(), t.stepsToRetrain(),
          t.offsets());
    }
    return true;
  }

  /**
   * With {@code adapter.id=*} a trainer knows the adapters it has read an example of since it
   * took their partitions; an erasure also reaches the others of those partitions: each whose
   * newest version's lineage holds an erased conversation is restored now, so it is examined
   * (and rewound) with the rest.
   */
  private void bringInIdleAdaptersTouched() {
    Map<String, Integer> partitions = new java.util.HashMap<>();
    for (var e : checkpoints.allManifests().entrySet()) {
      String adapter = e.getKey();
      String topic = settings.inputTopic(settings.objectiveOf(adapter));
      TopicPartition tp = new TopicPartition(topic,
          io.continualsft.schemas.AdapterPartitions.partitionFor(adapter,
              partitions.computeIfAbsent(topic, t -> consumer.partitionsFor(t).size())));
      if (adapters.knows(adapter) || !ownership.owns(tp) || !settings.trains(adapter)
          || e.getValue().isEmpty()) {
        continue;
      }
      if (io.continualsft.trainer.erasure.Lineages.chain(e.getValue(), e.getValue().lastKey())
          .stream().anyMatch(v -> Lineage.touchedBy(e.getValue().get(v).getLineage(),
              erasures))) {
        log.info("erasure: adapter {} (no example read since this trainer took {}) is touched;"
            + " restoring it to rewind it", adapter, tp);
        adapters.slot(adapter, ownership.positions());
      }
    }
  }

  /** Null when nothing {@code slot} holds or published is erased. */
  private Touched examine(AdapterSlot slot) {
    boolean pending = slot.books.lineage().touchedBy(erasures)
        || slot.books.windowTouchedBy(erasures);
    long current = slot.books.version();
    Map<TopicPartition, Long> sinceCheckpoint = new LinkedHashMap<>(slot.committedBoundary);
    if (current == 0) {
      return pending ? new Touched(slot, List.of(), null, sinceCheckpoint,
          slot.books.stepsSinceCheckpoint(), java.util.Set.of()) : null;
    }
    SortedMap<Long, CheckpointManifest> manifests = checkpoints.manifests(slot.name);
    List<Long> chain = io.continualsft.trainer.erasure.Lineages.chain(manifests, current);
    int oldest = -1;
    for (int i = 0; i < chain.size(); i++) {
      if (Lineage.touchedBy(manifests.get(chain.get(i)).getLineage(), erasures)) {
        oldest = i;
      }
    }
    if (oldest < 0) {
      return pending ? new Touched(slot, List.of(), current, sinceCheckpoint,
          slot.books.stepsSinceCheckpoint(), manifests.keySet()) : null;
    }
    List<Long> revoked = new ArrayList<>(chain.subList(0, oldest + 1));
    java.util.Collections.reverse(revoked);
    Long restore = manifests.get(chain.get(oldest)).getParentVersion();
    Map<TopicPartition, Long> offsets = new LinkedHashMap<>();
    if (restore != null) {
      for (PartitionOffset po : manifests.get(restore).getSourceOffsets()) {
        offsets.put(new TopicPartition(po.getTopic(), po.getPartition()), po.getOffset());
      }
    } else {
      List<TopicPartition> partitions = new ArrayList<>(slot.committedBoundary.keySet());
      for (PartitionOffset po : manifests.get(chain.get(oldest)).getSourceOffsets()) {
        TopicPartition tp = new TopicPartition(po.getTopic(), po.getPartition());
        if (!partitions.contains(tp)) {
          partitions.add(tp);
        }
      }
      offsets.putAll(consumer.beginningOffsets(partitions));
    }
    long steps = manifests.get(current).getStep() + slot.books.stepsSinceCheckpoint()
        - (restore == null ? 0 : manifests.get(restore).getStep());
    return new Touched(slot, revoked, restore, offsets, steps, manifests.keySet());
  }

  /**
   * The version that restarts the adapter: R's adapter, moments and state (a fresh adapter's
   * when there is no R) under the next version number, continuing from R, revoking the rest.
   */
  private List<CheckpointRecord> rewindPoint(Touched t, long through, String reason) {
    AdapterSlot slot = t.slot();
    long version = slot.books.nextVersion();
    CheckpointFiles.Content content;
    Map<TopicPartition, Long> offsets = t.offsets();
    Map<String, Double> manifestMetrics = new LinkedHashMap<>();
    if (t.restore() != null) {
      Checkpoint r = checkpoints.version(slot.name, t.restore()).orElseThrow(() ->
          new IllegalStateException("erasure: checkpoint v" + t.restore() + " of adapter "
              + slot.name + ", the newest without the erased conversations, is not on "
              + settings.kafka().checkpointTopic() + " (deleted by its retention?)"));
      CheckpointFiles.Content c = CheckpointFiles.decode(r, identity, slot.lora);
      content = new CheckpointFiles.Content(c.adapter(), c.moments(),
          c.state().withVersion(version));
      manifestMetrics.putAll(r.manifest().getMetrics().entrySet().stream().collect(
          java.util.stream.Collectors.toMap(e -> e.getKey().toString(), Map.Entry::getValue)));
    } else {
      training.fresh(slot.lora, settings.seed());
      Map<String, Long> at = new LinkedHashMap<>();
      offsets.forEach((tp, o) -> at.put(tp.topic() + ":" + tp.partition(), o));
      content = new CheckpointFiles.Content(training.adapter(identity.baseModelName()),
          training.moments(), new TrainingState(slot.name, version, 0, 0, 0, 0, 0, 0, 0, 0,
              settings.seed(), at, Map.of(), List.of()));
    }
    TrainingState s = content.state();
    return CheckpointFiles.records(slot.name, version, content,
        new CheckpointFiles.ManifestFacts(s.step(), s.examplesTrained(), s.tokensTrained(),
            offsets, identity, slot.lora, manifestMetrics, Instant.ofEpochMilli(clock.millis())),
        new CheckpointFiles.ManifestLineage(t.restore(), List.of(), through, t.revoked(),
            reason),
        settings.checkpoints().chunkBytes()).records();
  }
}
