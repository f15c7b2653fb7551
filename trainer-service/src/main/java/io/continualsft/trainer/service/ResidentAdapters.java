package io.continualsft.trainer.service;

import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointFiles;
import io.continualsft.trainer.checkpoint.CheckpointSource;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.lora.AdapterState;
import io.continualsft.trainer.model.ModelIdentity;
import io.continualsft.trainer.train.AdapterTraining;
import io.continualsft.trainer.train.Kto;
import io.continualsft.trainer.train.Objective;
import java.time.Clock;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.Function;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The adapters of the partitions this trainer owns, one {@link AdapterSlot} each, and which of
 * them keep their weights and moments in memory. The model holds one adapter at a time; at most
 * {@code adapters.max-resident} are resident (the others parked beside the model as {@link
 * AdapterState}s); past that the least recently trained is checkpointed (if it trained since
 * its last checkpoint) and evicted, and restored from its checkpoint for its next step. Only its
 * small accounting (the step being formed, the held-out examples) stays.
 */
final class ResidentAdapters {
  private static final Logger log = LoggerFactory.getLogger(ResidentAdapters.class);

  private final TrainerSettings settings;
  private final AdapterTraining training;
  private final CheckpointSource checkpoints;
  private final ModelIdentity identity;
  private final TrainerMetrics metrics;
  private final Clock clock;
  private final Function<String, ReplayDraw> replay;
  private final Consumer<AdapterSlot> checkpointBeforeEviction;
  private final ProgressReport progress;
  private final io.continualsft.trainer.erasure.Erasures erasures;
  private final Map<String, AdapterSlot> slots = new TreeMap<>();
  private AdapterSlot inModel; // whose weights the model holds now
  private long useCounter;

  /**
   * @param replay each adapter's replay draws
   * @param checkpointBeforeEviction cuts a checkpoint of an adapter that trained since its last
   */
  ResidentAdapters(TrainerSettings settings, AdapterTraining training,
      CheckpointSource checkpoints, ModelIdentity identity, TrainerMetrics metrics, Clock clock,
      Function<String, ReplayDraw> replay, Consumer<AdapterSlot> checkpointBeforeEviction,
      ProgressReport progress, io.continualsft.trainer.erasure.Erasures erasures) {
    this.erasures = erasures;
    this.settings = settings;
    this.training = training;
    this.checkpoints = checkpoints;
    this.identity = identity;
    this.metrics = metrics;
    this.clock = clock;
    this.replay = replay;
    this.checkpointBeforeEviction = checkpointBeforeEviction;
    this.progress = progress;
  }

  /** The objective {@code settings} give adapter {@code name}. */
  static Objective objectiveOf(TrainerSettings settings, String name) {
    TrainerSettings.Objectives o = settings.objectives();
    return switch (settings.objectiveOf(name)) {
      case SFT -> Objective.SFT;
      case KTO -> new Objective.Preference(new Kto.Settings(o.beta(), o.desirableWeight(),
          o.undesirableWeight()));
    };
  }

  /** Every adapter known since its partition was assigned, in name order. */
  Collection<AdapterSlot> all() {
    return List.copyOf(slots.values());
  }

  boolean knows(String adapter) {
    return slots.containsKey(adapter);
  }

  /** How many adapters this trainer keeps accounting for. */
  int known() {
    return slots.size();
  }

  /**
   * The slot of {@code adapter}, created on its first record: restored from its newest
   * checkpoint when it has one (its records before that checkpoint's offsets are in its history
   * already), fresh otherwise. {@code positions}: where reading starts in each owned partition,
   * which a named adapter accounts for from the start.
   */
  AdapterSlot slot(String adapter, Map<TopicPartition, Long> positions) {
    AdapterSlot slot = slots.get(adapter);
    if (slot != null) {
      return slot;
    }
    Objective objective = objectiveOf(settings, adapter);
    slot = new AdapterSlot(adapter, settings.loraFor(adapter), new StepBookkeeping(
        settings.steps().stepTokens(), settings.steps().stepExamples(),
        settings.eval().maxExamples(), objective.minStepExamples(), clock.instant()),
        replay.apply(adapter), objective);
    slots.put(adapter, slot);
    Optional<Checkpoint> found = checkpoints.newest(adapter);
    Map<TopicPartition, Long> start = new LinkedHashMap<>();
    if (found.isPresent()) {
      Checkpoint c = found.get();
      CheckpointFiles.Content content = CheckpointFiles.decode(c, identity, slot.lora);
      slot.books.restore(c.version(), content.state());
      c.manifest().getSourceOffsets().forEach(po ->
          start.put(new TopicPartition(po.getTopic(), po.getPartition()), po.getOffset()));
      bringIn(slot, content.adapterState());
      slot.erasuresChecked = c.manifest().getErasuresThrough();
      progress.resumed(prefix(slot), c.version(), content.state().step(),
          slot.books.examplesTrained());
    } else {
      // A new adapter (or one whose partition came back before its first checkpoint): worth a
      // line and a count, since an example naming it is all it takes.
      metrics.adapterCreated();
      slot.erasuresChecked = erasures.count(); // it will never see an erased example
      log.info("adapter {} has no checkpoint on {}: it starts fresh ({} adapters known)", adapter,
          settings.kafka().checkpointTopic(), slots.size());
    }
    slot.inHistoryBelow.putAll(start);
    slot.committedBoundary.putAll(start);
    if (!settings.everyAdapter()) {
      // The one adapter accounts for every partition from where reading starts, as its
      // checkpoints' offsets always have: a boundary that has not moved is no new version.
      positions.forEach(start::putIfAbsent);
    }
    slot.books.start(start);
    metrics.adapters(residentCount(), slots.size());
    return slot;
  }

  /** Puts {@code slot}'s adapter into the model: from memory, its checkpoint, or fresh. */
  void activate(AdapterSlot slot) {
    slot.lastUsed = ++useCounter;
    if (inModel == slot) {
      return;
    }
    if (slot.resident) {
      park();
      training.load(slot.parked);
      slot.parked = null;
      inModel = slot;
      return;
    }
    makeRoomFor(slot); // first: an eviction's checkpoint is not part of the restore's time
    long started = System.nanoTime();
    long version = slot.books.version();
    if (version == 0) {
      bringIn(slot, null); // never checkpointed: it starts fresh (again)
      return;
    }
    CheckpointSource.Written where = slot.written;
    Checkpoint c = (where != null ? checkpoints.written(slot.name, version, where)
        : checkpoints.version(slot.name, version)).orElseThrow(() ->
        new IllegalStateException("checkpoint v" + version + " of adapter " + slot.name
            + " that this trainer committed is not on " + settings.kafka().checkpointTopic()
            + " (deleted by retention, or the topic was recreated?)"));
    long found = System.nanoTime();
    bringIn(slot, CheckpointFiles.decode(c, identity, slot.lora).adapterState());
    long done = System.nanoTime();
    metrics.restored(done - started);
    log.info("adapter {} restored from checkpoint v{} in {} ms ({} ms finding it)", slot.name,
        version, (done - started) / 1_000_000, (found - started) / 1_000_000);
  }

  /** Drops {@code leaving} (their partitions went elsewhere): nothing of them is kept. */
  void drop(Collection<AdapterSlot> leaving) {
    for (AdapterSlot slot : leaving) {
      slots.remove(slot.name);
      if (inModel == slot) {
        inModel = null;
      }
      metrics.adapterGone(slot.name);
    }
    metrics.adapters(residentCount(), slots.size());
  }

  /** The adapters with records in {@code partitions}. */
  List<AdapterSlot> of(Collection<TopicPartition> partitions) {
    return slots.values().stream()
        .filter(s -> s.firstRead.keySet().stream().anyMatch(partitions::contains)
            || s.books.partitions().stream().anyMatch(partitions::contains))
        .toList();
  }

  /** Adapter names on progress lines, when this trainer trains more than one. */
  String prefix(AdapterSlot slot) {
    return settings.everyAdapter() ? "[" + slot.name + "] " : "";
  }

  /** Makes room, then loads {@code state} (null: a fresh adapter) as {@code slot}'s. */
  private void bringIn(AdapterSlot slot, AdapterState state) {
    makeRoomFor(slot);
    park();
    if (state == null) {
      training.fresh(slot.lora, settings.seed());
    } else {
      training.load(state);
    }
    slot.resident = true;
    slot.lastUsed = ++useCounter;
    inModel = slot;
    metrics.adapterResident(slot);
    metrics.adapters(residentCount(), slots.size());
  }

  /** Evicts the least recently trained adapters until {@code slot} fits. */
  private void makeRoomFor(AdapterSlot slot) {
    while (residentCount() >= settings.adapters().maxResident()) {
      evict(slots.values().stream().filter(s -> s.resident && s != slot)
          .min(Comparator.comparingLong(s -> s.lastUsed)).orElseThrow());
    }
  }

  /** The adapter in the model goes back to memory beside it. */
  private void park() {
    if (inModel != null) {
      inModel.parked = training.state();
      inModel = null;
    }
  }

  /** Checkpoints {@code slot} if it trained since its last checkpoint, and frees its memory. */
  private void evict(AdapterSlot slot) {
    if (slot.books.stepsSinceCheckpoint() > 0) {
      checkpointBeforeEviction.accept(slot);
    }
    if (inModel == slot) {
      inModel = null;
    }
    slot.resident = false;
    slot.parked = null;
    slot.baseline = null;
    metrics.evicted(slot.name);
    log.info("adapter {} evicted at checkpoint v{} ({} resident at most)", slot.name,
        slot.books.version(), settings.adapters().maxResident());
    metrics.adapters(residentCount(), slots.size());
  }

  private int residentCount() {
    return (int) slots.values().stream().filter(s -> s.resident).count();
  }
}
