package io.continualsft.trainer.service;

import io.continualsft.trainer.checkpoint.TrainingState;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.train.LoraTrainer;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.TopicPartition;

/**
 * The trainer's accounting, without Kafka or a model: the examples of the step being formed,
 * the read position and the checkpoint boundary of every partition, the totals a checkpoint
 * records, the held-out examples, and whether a checkpoint is due.
 *
 * <p>The boundary is the offset per partition before which everything is accounted for (trained
 * in a finished step, dead-lettered, skipped or held out) and after which nothing is: it moves
 * only when a step ends or nothing is pending, so a checkpoint's offsets are exact.
 */
final class StepBookkeeping {
  private final int stepTokens;
  private final int stepExamples;
  private final int maxEvalExamples;
  private final int minStepExamples;

  // The step being formed.
  private final List<Batch.Example> window = new ArrayList<>();
  // The window's conversation ids and subjects, in the same order: for the lineage.
  private final List<String[]> windowIds = new ArrayList<>();
  private long windowTokens;
  private final Map<TopicPartition, Long> positions = new LinkedHashMap<>();
  private Map<TopicPartition, Long> boundary = new LinkedHashMap<>();
  private TopicPartition lastRead;
  // One past the last example admitted to the window, and to a finished step, per partition:
  // a function of the stream alone (not of poll timing), so replay draws repeat after a restart.
  private final Map<TopicPartition, Long> windowThrough = new LinkedHashMap<>();
  private final Map<TopicPartition, Long> trainedThrough = new LinkedHashMap<>();

  // Totals: all of them in every checkpoint.
  private long version;
  private long examplesTrained;
  private long tokensTrained;
  private long skippedSteps;
  private long examplesInSkippedSteps;
  private long examplesReplayed;
  private long tokensReplayed;
  private double lastLoss = Double.NaN;
  private double lastGradNorm = Double.NaN;
  private double lastLearningRate;
  private final Deque<Batch.Example> evalSet = new ArrayDeque<>();
  // Held out while a step was being formed: they join the eval set when the step ends, so a
  // checkpoint's eval set never holds an example past its boundary (a trainer that resumes
  // there reads that example again).
  private final List<Batch.Example> pendingHeldOut = new ArrayList<>();

  // Since the last checkpoint.
  private final io.continualsft.trainer.erasure.Lineage lineage =
      new io.continualsft.trainer.erasure.Lineage();
  private boolean dirty;
  private long stepsSinceCheckpoint;
  private Instant lastCheckpoint;

  StepBookkeeping(int stepTokens, int stepExamples, int maxEvalExamples, Instant now) {
    this(stepTokens, stepExamples, maxEvalExamples, 1, now);
  }

  /** {@code minStepExamples}: a step waits for that many examples (KTO's: two). */
  StepBookkeeping(int stepTokens, int stepExamples, int maxEvalExamples, int minStepExamples,
      Instant now) {
    this.minStepExamples = minStepExamples;
    this.stepTokens = stepTokens;
    this.stepExamples = stepExamples;
    this.maxEvalExamples = maxEvalExamples;
    this.lastCheckpoint = now;
  }

  /** Reading starts at {@code offsets}; everything before them is accounted for. */
  void start(Map<TopicPartition, Long> offsets) {
    positions.clear();
    positions.putAll(offsets);
    boundary = new LinkedHashMap<>(positions);
  }

  /** The read position of {@code partition}, or -1 when nothing was read from it. */
  long position(TopicPartition partition) {
    return positions.getOrDefault(partition, -1L);
  }

  /** The record at {@code offset} of {@code partition} was read (whatever became of it). */
  void read(TopicPartition partition, long offset) {
    positions.put(partition, offset + 1);
    lastRead = partition;
  }

  /** The reader moved past records that carry no example (transaction markers). */
  void readUpTo(TopicPartition partition, long position) {
    positions.put(partition, position);
  }

  /** The example of the record read last joins the step being formed. */
  void admit(Batch.Example example, int trainedTokens) {
    admit(example, trainedTokens, "", null);
  }

  /** As {@link #admit(Batch.Example, int)}, from conversation {@code id} of {@code subject}. */
  void admit(Batch.Example example, int trainedTokens, String id, String subject) {
    windowThrough.put(lastRead, positions.get(lastRead));
    window.add(example);
    windowIds.add(new String[] {id, subject});
    windowTokens += trainedTokens;
  }

  /** Whether an example of the step being formed is erased by {@code erasures}. */
  boolean windowTouchedBy(io.continualsft.trainer.erasure.Erasures erasures) {
    return windowIds.stream().anyMatch(ids -> erasures.erases(ids[0], ids[1]));
  }

  /** The conversations trained since the last checkpoint (the next one's lineage). */
  io.continualsft.trainer.erasure.Lineage lineage() {
    return lineage;
  }

  /** The version the next checkpoint continues from: null when there is none yet. */
  Long parentVersion() {
    return version == 0 ? null : version;
  }

  void holdOut(Batch.Example example) {
    if (!window.isEmpty()) {
      pendingHeldOut.add(example);
      return;
    }
    addToEvalSet(example);
  }

  private void addToEvalSet(Batch.Example example) {
    evalSet.addLast(example);
    while (evalSet.size() > maxEvalExamples) {
      evalSet.removeFirst();
    }
    dirty = true;
  }

  /** Whether anything read is not yet in a checkpoint (trained, held out, or being formed). */
  boolean unaccounted() {
    return dirty || !window.isEmpty() || !pendingHeldOut.isEmpty();
  }

  /** Steps taken since the last checkpoint. */
  long stepsSinceCheckpoint() {
    return stepsSinceCheckpoint;
  }

  /** The partitions this adapter's records were read from (or its checkpoint recorded). */
  java.util.Set<TopicPartition> partitions() {
    return java.util.Collections.unmodifiableSet(positions.keySet());
  }

  /** A record that trains nothing but moves the boundary: skipped, or a dead letter. */
  void passOver() {
    dirty = true;
  }

  boolean stepFull() {
    return window.size() >= minStepExamples
        && (windowTokens >= stepTokens || (stepExamples > 0 && window.size() >= stepExamples));
  }

  boolean hasPendingExamples() {
    return !window.isEmpty();
  }

  /**
   * Whether the step being formed may be trained now, full or not (the trainer has caught up):
   * it holds at least the objective's fewest examples. Otherwise it waits for more, and the
   * boundary stays before it.
   */
  boolean readyToStep() {
    return window.size() >= Math.max(1, minStepExamples);
  }

  List<Batch.Example> window() {
    return List.copyOf(window);
  }

  /**
   * Books a finished step (applied or skipped) over the window, which starts afresh; {@code
   * replayed} examples with {@code replayedTokens} trained tokens were drawn back into it.
   */
  void stepped(LoraTrainer.StepResult result, int replayed, long replayedTokens) {
    stepped(result, replayed, replayedTokens, List.of());
  }

  /** As above, with the conversation ids and subjects of the examples replay drew. */
  void stepped(LoraTrainer.StepResult result, int replayed, long replayedTokens,
      List<String[]> replayedIds) {
    trainedThrough.putAll(windowThrough);
    windowThrough.clear();
    if (result.applied()) {
      windowIds.forEach(ids -> lineage.trained(ids[0], ids[1]));
      replayedIds.forEach(ids -> lineage.replayed(ids[0], ids[1]));
      examplesTrained += window.size();
      tokensTrained += result.trainedTokens() - replayedTokens;
      examplesReplayed += replayed;
      tokensReplayed += replayedTokens;
      lastLoss = result.loss();
      lastGradNorm = result.gradNorm();
    } else {
      skippedSteps++;
      examplesInSkippedSteps += window.size();
    }
    lastLearningRate = result.learningRate();
    window.clear();
    windowIds.clear();
    windowTokens = 0;
    pendingHeldOut.forEach(this::addToEvalSet);
    pendingHeldOut.clear();
    boundary = new LinkedHashMap<>(positions);
    dirty = true;
    stepsSinceCheckpoint++;
  }

  /**
   * When no example is pending, everything read is accounted for: the boundary moves up to the
   * read positions. True when a checkpoint would record something new.
   */
  boolean settle() {
    if (!window.isEmpty()) {
      return false;
    }
    boolean moved = !positions.equals(boundary);
    if (moved) {
      boundary = new LinkedHashMap<>(positions);
    }
    return dirty || moved;
  }

  boolean dirty() {
    return dirty;
  }

  boolean checkpointDue(int everySteps, int everySeconds, Instant now) {
    return stepsSinceCheckpoint >= everySteps
        || Duration.between(lastCheckpoint, now).toSeconds() >= everySeconds;
  }

  /** The next checkpoint's version. */
  long nextVersion() {
    return version + 1;
  }

  /** Books the checkpoint of version {@link #nextVersion()} as published. */
  void checkpointed(Instant now) {
    version++;
    lineage.clear();
    dirty = false;
    stepsSinceCheckpoint = 0;
    lastCheckpoint = now;
  }

  /** The training metrics a checkpoint's manifest records (non-finite ones left out). */
  Map<String, Double> metrics(double evalLoss) {
    Map<String, Double> m = new LinkedHashMap<>();
    putFinite(m, "train_loss", lastLoss);
    putFinite(m, "eval_loss", evalLoss);
    putFinite(m, "learning_rate", lastLearningRate);
    putFinite(m, "grad_norm", lastGradNorm);
    m.put("skipped_steps", (double) skippedSteps);
    m.put("examples_in_skipped_steps", (double) examplesInSkippedSteps);
    m.put("examples_replayed", (double) examplesReplayed);
    m.put("tokens_replayed", (double) tokensReplayed);
    m.put("eval_examples", (double) evalSet.size());
    return m;
  }

  private static void putFinite(Map<String, Double> m, String key, double value) {
    if (Double.isFinite(value)) {
      m.put(key, value);
    }
  }

  /** The state a checkpoint of version {@link #nextVersion()} records. */
  TrainingState state(String adapter, long step, long optimizerSteps, long seed) {
    Map<String, Long> offsets = new LinkedHashMap<>();
    boundary.forEach((tp, o) -> offsets.put(tp.topic() + ":" + tp.partition(), o));
    Map<String, Long> through = new LinkedHashMap<>();
    trainedThrough.forEach((tp, o) -> through.put(tp.topic() + ":" + tp.partition(), o));
    return new TrainingState(adapter, nextVersion(), step, optimizerSteps, examplesTrained,
        tokensTrained, skippedSteps, examplesInSkippedSteps, examplesReplayed, tokensReplayed,
        seed, offsets, through, List.copyOf(evalSet));
  }

  /** Continues from checkpoint {@code version}'s state (its offsets go to {@link #start}). */
  void restore(long version, TrainingState state) {
    this.version = version;
    lineage.clear();
    examplesTrained = state.examplesTrained();
    tokensTrained = state.tokensTrained();
    skippedSteps = state.skippedSteps();
    examplesInSkippedSteps = state.examplesInSkippedSteps();
    examplesReplayed = state.examplesReplayed();
    tokensReplayed = state.tokensReplayed();
    trainedThrough.clear();
    state.trainedThrough().forEach((key, offset) -> {
      int colon = key.lastIndexOf(':');
      trainedThrough.put(new TopicPartition(key.substring(0, colon),
          Integer.parseInt(key.substring(colon + 1))), offset);
    });
    evalSet.clear();
    evalSet.addAll(state.evalSet());
  }

  /** The boundary, in partition order (as the manifest lists it). */
  Map<TopicPartition, Long> boundary() {
    return java.util.Collections.unmodifiableMap(new LinkedHashMap<>(boundary));
  }

  /** Per partition, one past the last example of a finished step: replay draws before it. */
  Map<TopicPartition, Long> trainedThrough() {
    return java.util.Collections.unmodifiableMap(new LinkedHashMap<>(trainedThrough));
  }

  long examplesReplayed() {
    return examplesReplayed;
  }

  List<Batch.Example> evalSet() {
    return List.copyOf(evalSet);
  }

  long version() {
    return version;
  }

  long examplesTrained() {
    return examplesTrained;
  }

  long tokensTrained() {
    return tokensTrained;
  }

  long examplesInSkippedSteps() {
    return examplesInSkippedSteps;
  }

  /** The loss of the last applied step (a skipped step leaves it). */
  double lastLoss() {
    return lastLoss;
  }

  double lastGradNorm() {
    return lastGradNorm;
  }
}
