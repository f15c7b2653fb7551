package io.continualsft.trainer.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.continualsft.chat.labels.LabelContract;
import io.continualsft.trainer.model.Batch;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Micro-batches under a token budget: which examples share one, and how much is padding. */
class TokenBudgetBatcherTest {
  /** An example of {@code length} tokens whose ids are {@code tag * 100 + position}. */
  static Batch.Example example(int tag, int length) {
    int[] ids = new int[length];
    int[] labels = new int[length];
    for (int i = 0; i < length; i++) {
      ids[i] = tag * 100 + i;
      labels[i] = i == length - 1 ? ids[i] : LabelContract.IGNORE_INDEX;
    }
    return new Batch.Example(ids, labels);
  }

  static List<Batch.Example> examples(int... lengths) {
    List<Batch.Example> out = new ArrayList<>();
    for (int i = 0; i < lengths.length; i++) {
      out.add(example(i + 1, lengths[i]));
    }
    return out;
  }

  /** Each micro-batch as "rows x time", rows as the tags of their examples. */
  static List<String> shapes(TokenBudgetBatcher.Plan plan) {
    List<String> out = new ArrayList<>();
    for (Batch b : plan.microBatches()) {
      List<String> rows = new ArrayList<>();
      for (int[] row : b.idsRows()) {
        StringBuilder tags = new StringBuilder();
        for (int t = 0; t < row.length; t++) {
          if (row[t] % 100 == 0 && row[t] > 0) {
            tags.append(row[t] / 100);
          }
        }
        rows.add(tags.toString());
      }
      out.add(b.rows() + "x" + b.time() + " " + rows);
    }
    return out;
  }

  @Test
  void bucketedExamplesAreSortedLongestFirstAndFillMicroBatchesUpToTheBudget() {
    TokenBudgetBatcher batcher = new TokenBudgetBatcher(40, 20, false, 0);
    TokenBudgetBatcher.Plan plan = batcher.plan(examples(5, 20, 9, 10, 3, 18));
    // Rows x longest row <= 40: [20, 18], then [10, 9, 5, 3] padded to 10.
    assertThat(shapes(plan)).containsExactly("2x20 [2, 6]", "4x10 [4, 3, 1, 5]");
    assertThat(plan.realTokens()).isEqualTo(65);
    assertThat(plan.computedTokens()).isEqualTo(2 * 20 + 4 * 10);
    assertThat(plan.utilisation()).isEqualTo(65.0 / 80);
  }

  @Test
  void packedExamplesShareRowsFirstFitLongestFirstWithinTheRowCapacity() {
    TokenBudgetBatcher batcher = new TokenBudgetBatcher(40, 20, true, 0);
    TokenBudgetBatcher.Plan plan = batcher.plan(examples(5, 20, 9, 10, 3, 18));
    // First fit, longest first, rows of at most 20: [20], [18], [10, 9], [5, 3]; then rows
    // longest first into micro-batches: [20, 19] (2 x 20 = 40), [18, 8] (2 x 18 = 36).
    assertThat(shapes(plan)).containsExactly("2x20 [2, 43]", "2x18 [6, 15]");
    assertThat(plan.realTokens()).isEqualTo(65);
    assertThat(plan.computedTokens()).isEqualTo(2 * 20 + 2 * 18);
  }

  @Test
  void packedRowsKeepEachExampleItsOwnPositionsAndSegment() {
    TokenBudgetBatcher batcher = new TokenBudgetBatcher(64, 16, true, 0);
    Batch b = batcher.plan(examples(6, 4)).microBatches().getFirst();
    assertThat(b.rows()).isEqualTo(1);
    assertThat(b.positionRows()[0]).containsExactly(0, 1, 2, 3, 4, 5, 0, 1, 2, 3);
    assertThat(b.segments()[0]).containsExactly(1, 1, 1, 1, 1, 1, 2, 2, 2, 2);
    assertThat(b.firstExampleOfRows()).containsExactly(0, 2);
  }

  @Test
  void paddingIsThePadIdWithIgnoredLabelsAndSegmentZero() {
    TokenBudgetBatcher batcher = new TokenBudgetBatcher(64, 16, false, 7);
    Batch b = batcher.plan(examples(5, 3)).microBatches().getFirst();
    assertThat(b.idsRows()[1]).containsExactly(200, 201, 202, 7, 7);
    assertThat(b.labels()[1]).containsExactly(LabelContract.IGNORE_INDEX,
        LabelContract.IGNORE_INDEX, 202, LabelContract.IGNORE_INDEX, LabelContract.IGNORE_INDEX);
    assertThat(b.segments()[1]).containsExactly(1, 1, 1, 0, 0);
  }

  @Test
  void thePlanIsAPureFunctionOfTheExamplesInOrder() {
    TokenBudgetBatcher batcher = new TokenBudgetBatcher(48, 24, true, 0);
    List<Batch.Example> examples = examples(7, 13, 2, 24, 11, 5, 5, 9);
    TokenBudgetBatcher.Plan a = batcher.plan(examples);
    TokenBudgetBatcher.Plan b = batcher.plan(List.copyOf(examples));
    assertThat(shapes(a)).isEqualTo(shapes(b));
    for (int i = 0; i < a.microBatches().size(); i++) {
      assertThat(a.microBatches().get(i).idsRows()).isDeepEqualTo(b.microBatches().get(i).idsRows());
    }
  }

  @Test
  void everyExampleIsInExactlyOneMicroBatchAndNoneExceedsTheBudget() {
    TokenBudgetBatcher batcher = new TokenBudgetBatcher(100, 50, false, 0);
    int[] lengths = {50, 1, 33, 17, 49, 2, 8, 8, 8, 25, 12};
    TokenBudgetBatcher.Plan plan = batcher.plan(examples(lengths));
    List<Integer> seen = new ArrayList<>();
    for (Batch b : plan.microBatches()) {
      assertThat((long) b.rows() * b.time()).isLessThanOrEqualTo(100);
      for (int[] row : b.idsRows()) {
        seen.add(row[0] / 100);
      }
    }
    assertThat(seen).containsExactlyInAnyOrder(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
    assertThat(plan.realTokens()).isEqualTo(Arrays.stream(lengths).sum());
  }

  @Test
  void examplesLongerThanTheBudgetAreMicroBatchesOfTheirOwn() {
    // Budget 16 under a max length of 40: the 30- and 17-token examples go alone, the rest
    // share micro-batches of at most 16 tokens.
    TokenBudgetBatcher bucketed = new TokenBudgetBatcher(16, 40, false, 0);
    assertThat(shapes(bucketed.plan(examples(4, 30, 8, 17, 3))))
        .containsExactly("1x30 [2]", "1x17 [4]", "2x8 [3, 1]", "1x3 [5]");
    // Packed rows hold at most the budget; a longer example is a row of its own.
    TokenBudgetBatcher packed = new TokenBudgetBatcher(16, 40, true, 0);
    TokenBudgetBatcher.Plan plan = packed.plan(examples(4, 30, 8, 17, 3));
    assertThat(shapes(plan)).containsExactly("1x30 [2]", "1x17 [4]", "1x15 [315]");
    assertThat(plan.realTokens()).isEqualTo(62);
  }

  @Test
  void aBudgetBelowOneIsRefusedNamingIt() {
    assertThatThrownBy(() -> new TokenBudgetBatcher(0, 200, false, 0))
        .hasMessageContaining("batch.token-budget");
  }
}
