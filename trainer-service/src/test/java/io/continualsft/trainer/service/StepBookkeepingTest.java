package io.continualsft.trainer.service;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.trainer.checkpoint.TrainingState;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.train.LoraTrainer;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/** When steps are full, where the checkpoint boundary lies, and what a checkpoint records. */
class StepBookkeepingTest {
  static final TopicPartition P0 = new TopicPartition("examples", 0);
  static final TopicPartition P1 = new TopicPartition("examples", 1);
  static final Instant T0 = Instant.ofEpochSecond(1_795_000_000L);

  static Batch.Example example(int id) {
    return new Batch.Example(new int[] {id, id + 1}, new int[] {-100, id + 1});
  }

  static LoraTrainer.StepResult applied(long step, long tokens) {
    return new LoraTrainer.StepResult(step, true, 1.5, 0.25, 1e-3, tokens, 0.9, List.of());
  }

  static LoraTrainer.StepResult skipped(long step, long tokens) {
    return new LoraTrainer.StepResult(step, false, Double.NaN, Double.NaN, 1e-3, tokens, 0.9,
        List.of("x"));
  }

  @Test
  void aStepIsFullAtItsTokensOrAtItsExamplesWhicheverComesFirst() {
    StepBookkeeping byTokens = new StepBookkeeping(10, 0, 4, T0);
    byTokens.admit(example(1), 6);
    assertThat(byTokens.stepFull()).isFalse();
    byTokens.admit(example(2), 4);
    assertThat(byTokens.stepFull()).isTrue();

    StepBookkeeping byExamples = new StepBookkeeping(1_000, 2, 4, T0);
    byExamples.admit(example(1), 1);
    assertThat(byExamples.stepFull()).isFalse();
    byExamples.admit(example(2), 1);
    assertThat(byExamples.stepFull()).isTrue();
  }

  /** KTO's fewest: one example of any size waits for a second, full or caught up. */
  @Test
  void aStepOfAnObjectiveThatNeedsTwoExamplesWaitsForTheSecond() {
    StepBookkeeping books = new StepBookkeeping(10, 0, 4, 2, T0);
    books.start(Map.of(P0, 0L));
    books.read(P0, 0);
    books.admit(example(1), 50);
    assertThat(books.stepFull()).isFalse();
    assertThat(books.readyToStep()).isFalse();
    assertThat(books.settle()).as("the boundary stays before it").isFalse();
    assertThat(books.boundary()).containsEntry(P0, 0L);
    books.read(P0, 1);
    books.admit(example(2), 1);
    assertThat(books.stepFull()).isTrue();
    assertThat(books.readyToStep()).isTrue();
  }

  /** A KTO adapter's held-out turns keep their ratings through a checkpoint. */
  @Test
  void ratedHeldOutExamplesKeepTheirRatingsInTheTrainerState() {
    StepBookkeeping books = new StepBookkeeping(10, 0, 4, 2, T0);
    books.start(Map.of(P0, 0L));
    books.holdOut(new Batch.Example(new int[] {5, 6, 7}, new int[] {-100, 6, 7},
        Batch.Rating.DESIRABLE));
    books.holdOut(new Batch.Example(new int[] {5, 8}, new int[] {-100, 8},
        Batch.Rating.UNDESIRABLE));
    TrainingState read = TrainingState.fromJson(books.state("a", 0, 0, 1).toJson(), "test");
    assertThat(read.evalSet()).extracting(Batch.Example::rating)
        .containsExactly(Batch.Rating.DESIRABLE, Batch.Rating.UNDESIRABLE);
    assertThat(read.evalSet().get(0).labels()).containsExactly(-100, 6, 7);
    String forged = new String(books.state("a", 0, 0, 1).toJson(),
        java.nio.charset.StandardCharsets.UTF_8).replace("\"labels\" : [ -100, 6, 7 ]",
        "\"labels\" : [ -100, 6, -100 ]");
    assertThat(forged).contains("-100, 6, -100");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> TrainingState.fromJson(
        forged.getBytes(java.nio.charset.StandardCharsets.UTF_8), "v3"))
        .hasMessageContaining("v3: trainer_state.json eval_set: a rated example");
  }

  @Test
  void anExampleHeldOutWhileAStepFormsJoinsTheEvalSetWhenTheStepEnds() {
    StepBookkeeping books = new StepBookkeeping(10, 0, 4, T0);
    books.start(Map.of(P0, 0L));
    books.read(P0, 0);
    books.holdOut(example(1)); // nothing pending: straight in
    books.read(P0, 1);
    books.admit(example(2), 6);
    books.read(P0, 2);
    books.holdOut(example(3)); // past the boundary a checkpoint would record now
    assertThat(books.unaccounted()).isTrue();
    TrainingState now = books.state("a", 0, 0, 1);
    assertThat(now.offsets()).isEqualTo(Map.of("examples:0", 0L));
    assertThat(now.evalSet()).as("only what lies before the boundary")
        .extracting(e -> e.ids()[0]).containsExactly(1);
    books.read(P0, 3);
    books.admit(example(4), 6);
    books.stepped(applied(1, 12), 0, 0);
    assertThat(books.evalSet()).extracting(e -> e.ids()[0]).containsExactly(1, 3);
    assertThat(books.boundary()).isEqualTo(Map.of(P0, 4L));
    books.checkpointed(T0);
    assertThat(books.unaccounted()).isFalse();
  }

  @Test
  void theBoundaryMovesWhenAStepEndsOrWhenNothingIsPending() {
    StepBookkeeping books = new StepBookkeeping(10, 0, 4, T0);
    books.start(Map.of(P0, 100L, P1, 7L));
    books.read(P0, 100);
    books.admit(example(1), 6);
    books.read(P0, 101);
    books.passOver(); // a dead letter at 101
    assertThat(books.settle()).as("an example is pending: nothing settles").isFalse();
    assertThat(books.boundary()).isEqualTo(Map.of(P0, 100L, P1, 7L));
    books.read(P0, 102);
    books.admit(example(2), 6);
    books.stepped(applied(1, 12), 0, 0);
    assertThat(books.boundary()).isEqualTo(Map.of(P0, 103L, P1, 7L));
    assertThat(books.hasPendingExamples()).isFalse();
    books.readUpTo(P1, 9); // past a transaction marker
    assertThat(books.settle()).isTrue();
    assertThat(books.boundary()).isEqualTo(Map.of(P0, 103L, P1, 9L));
  }

  @Test
  void appliedAndSkippedStepsAreCountedApart() {
    StepBookkeeping books = new StepBookkeeping(4, 0, 4, T0);
    books.start(Map.of(P0, 0L));
    books.admit(example(1), 2);
    books.admit(example(2), 2);
    books.stepped(applied(1, 4), 0, 0);
    books.admit(example(3), 4);
    books.stepped(skipped(2, 4), 0, 0);
    assertThat(books.examplesTrained()).isEqualTo(2);
    assertThat(books.tokensTrained()).isEqualTo(4);
    assertThat(books.examplesInSkippedSteps()).isEqualTo(1);
    assertThat(books.lastLoss()).as("a skipped step leaves the last loss").isEqualTo(1.5);
    assertThat(books.metrics(2.5)).isEqualTo(Map.of("train_loss", 1.5, "eval_loss", 2.5,
        "learning_rate", 1e-3, "grad_norm", 0.25, "skipped_steps", 1.0, "examples_replayed", 0.0,
        "tokens_replayed", 0.0,
        "examples_in_skipped_steps", 1.0, "eval_examples", 0.0));
    assertThat(books.metrics(Double.NaN)).doesNotContainKey("eval_loss");
  }

  @Test
  void aCheckpointIsDueAfterEnoughStepsOrEnoughTime() {
    StepBookkeeping books = new StepBookkeeping(1, 0, 4, T0);
    books.start(Map.of(P0, 0L));
    assertThat(books.checkpointDue(2, 60, T0.plusSeconds(59))).isFalse();
    assertThat(books.checkpointDue(2, 60, T0.plusSeconds(60))).isTrue();
    books.admit(example(1), 1);
    books.stepped(applied(1, 1), 0, 0);
    assertThat(books.checkpointDue(2, 60, T0)).isFalse();
    books.admit(example(2), 1);
    books.stepped(applied(2, 1), 0, 0);
    assertThat(books.checkpointDue(2, 60, T0)).isTrue();
    books.checkpointed(T0.plusSeconds(5));
    assertThat(books.version()).isEqualTo(1);
    assertThat(books.dirty()).isFalse();
    assertThat(books.checkpointDue(2, 60, T0.plusSeconds(64))).isFalse();
  }

  @Test
  void theHeldOutSetKeepsTheNewestExamplesUpToItsSize() {
    StepBookkeeping books = new StepBookkeeping(10, 0, 2, T0);
    books.holdOut(example(1));
    books.holdOut(example(2));
    books.holdOut(example(3));
    assertThat(books.evalSet()).extracting(e -> e.ids()[0]).containsExactly(2, 3);
  }

  @Test
  void aCheckpointsStateRestoresTheSameTotals() {
    StepBookkeeping books = new StepBookkeeping(4, 0, 4, T0);
    books.start(Map.of(P0, 0L));
    books.holdOut(example(9));
    books.read(P0, 0);
    books.admit(example(1), 4);
    books.stepped(applied(1, 4), 0, 0);
    TrainingState state = books.state("default", 1, 1, 3);
    assertThat(state.version()).as("the version this state will be published as").isEqualTo(1);
    assertThat(state.offsets()).isEqualTo(Map.of("examples:0", 1L));
    books.checkpointed(T0);
    TrainingState read = TrainingState.fromJson(state.toJson(), "test");
    StepBookkeeping again = new StepBookkeeping(4, 0, 4, T0);
    again.restore(1, read);
    again.start(Map.of(P0, 1L)); // the service seeks to the manifest's offsets
    assertThat(again.version()).isEqualTo(1);
    assertThat(again.examplesTrained()).isEqualTo(1);
    assertThat(again.tokensTrained()).isEqualTo(4);
    assertThat(again.evalSet()).extracting(e -> e.ids()[0]).containsExactly(9);
    assertThat(again.state("default", 1, 1, 3).toJson())
        .isEqualTo(books.state("default", 1, 1, 3).toJson());
  }
}
