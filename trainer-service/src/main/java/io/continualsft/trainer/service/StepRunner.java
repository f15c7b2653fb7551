package io.continualsft.trainer.service;

import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.train.AdapterTraining;
import io.continualsft.trainer.train.LoraTrainer;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One optimizer step of an adapter: the new examples of the step being formed, plus what replay
 * draws back, trained in the model; booked, measured, shown on a progress line every few steps,
 * and followed by a checkpoint when one is due.
 */
final class StepRunner {
  private static final Logger log = LoggerFactory.getLogger(StepRunner.class);
  /** The most conversations one manifest's lineage lists (about 100 bytes each). */
  static final int MAX_LINEAGE = 4096;

  private final TrainerSettings settings;
  private final AdapterTraining training;
  private final TrainerMetrics metrics;
  private final Clock clock;
  private final ResidentAdapters adapters;
  private final PartitionOwnership ownership;
  private final CheckpointCutter cutter;
  private final ProgressReport progress;
  private long examplesTrained; // this process's, for the progress line

  private final java.util.function.BiConsumer<String, LoraTrainer.StepResult> onStep;

  StepRunner(TrainerSettings settings, AdapterTraining training, TrainerMetrics metrics,
      Clock clock, ResidentAdapters adapters, PartitionOwnership ownership,
      CheckpointCutter cutter, ProgressReport progress,
      java.util.function.BiConsumer<String, LoraTrainer.StepResult> onStep) {
    this.onStep = onStep;
    this.settings = settings;
    this.training = training;
    this.metrics = metrics;
    this.clock = clock;
    this.adapters = adapters;
    this.ownership = ownership;
    this.cutter = cutter;
    this.progress = progress;
  }

  void step(AdapterSlot slot) {
    adapters.activate(slot);
    long started = System.nanoTime();
    StepBookkeeping books = slot.books;
    List<Batch.Example> window = books.window();
    ReplayDraw.Drawn replayed = slot.replay.draw(training.step() + 1, window.size(),
        books.trainedThrough());
    List<Batch.Example> examples = window;
    if (!replayed.examples().isEmpty()) {
      examples = new ArrayList<>(window);
      examples.addAll(replayed.examples());
    }
    LoraTrainer.StepResult result = training.step(examples, slot.objective);
    long nanos = System.nanoTime() - started;
    books.stepped(result, replayed.examples().size(), replayed.trainedTokens(), replayed.ids());
    onStep.accept(slot.name, result);
    examplesTrained += result.applied() ? window.size() : 0;
    metrics.stepped(result, window.size(), replayed.examples().size(),
        replayed.trainedTokens(), nanos, books.lastLoss(), books.lastGradNorm());
    String prefix = adapters.prefix(slot);
    if (!result.applied()) {
      log.warn("{}step {} skipped: loss {} gradient norm {} (not finite; non-finite gradients"
          + " in {})", prefix, result.step(), result.loss(), result.gradNorm(),
          result.nonFiniteGradients());
    }
    progress.add(result.trainedTokens());
    if (result.step() % settings.observability().progressEverySteps() == 0) {
      long lag = ownership.lag();
      metrics.lag(lag);
      metrics.tokensPerSecond(progress.step(prefix, result,
          settings.everyAdapter() ? examplesTrained : books.examplesTrained(), lag,
          clock.instant()));
      log.debug("step {}: loss {} grad norm {} (full precision)", result.step(), result.loss(),
          result.gradNorm());
    }
    // A manifest's lineage is bounded: past MAX_LINEAGE conversations a checkpoint is cut (a
    // function of the stream, so a fresh run cuts at the same steps).
    if (books.checkpointDue(settings.checkpoints().everySteps(),
        settings.checkpoints().everySeconds(), clock.instant())
        || books.lineage().size() >= MAX_LINEAGE) {
      cutter.cut(slot);
    }
  }
}
