package io.continualsft.trainer.train;

import io.continualsft.trainer.model.Batch;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Splits one optimizer step's examples into micro-batches of at most {@code tokenBudget} computed
 * tokens (rows × longest row, padding included); a row longer than the budget is a micro-batch
 * of its own (the budget may be smaller than the longest example: at the sizes people adapt a
 * small budget is the fast one, see {@code TrainingPlan}).
 *
 * <ul>
 *   <li>bucketed: examples sorted by length, consecutive ones share a micro-batch, one per row,
 *       so rows in a micro-batch have similar lengths and little padding;
 *   <li>packed: several examples per row (first fit, longest first) up to the budget or the
 *       longest example allowed, whichever is smaller (an example longer than that is a row of
 *       its own), attention kept within each example by the model's segment mask.
 * </ul>
 *
 * A pure function of the examples in order: the same step's examples always make the same
 * micro-batches, which is what makes a restarted trainer repeat an uninterrupted one exactly.
 */
public final class TokenBudgetBatcher {
  private final int tokenBudget;
  private final int rowCapacity;
  private final boolean pack;
  private final int padId;

  /** {@code maxLength}: the longest example allowed ({@code train.max-length}). */
  public TokenBudgetBatcher(int tokenBudget, int maxLength, boolean pack, int padId) {
    if (tokenBudget < 1 || maxLength < 1) {
      throw new IllegalArgumentException("batch.token-budget (" + tokenBudget
          + ") and train.max-length (" + maxLength + ") must be >= 1");
    }
    this.tokenBudget = tokenBudget;
    this.rowCapacity = Math.min(tokenBudget, maxLength);
    this.pack = pack;
    this.padId = padId;
  }

  /**
   * The micro-batches and how many of the tokens they compute are real; {@code examples} holds
   * each micro-batch's examples in (row, segment) order, the order of {@link
   * io.continualsft.trainer.model.SftLoss.Result#exampleLoss()}.
   */
  public record Plan(List<Batch> microBatches, long realTokens, long computedTokens,
      List<List<Batch.Example>> examples) {
    public double utilisation() {
      return computedTokens == 0 ? 1.0 : (double) realTokens / computedTokens;
    }
  }

  public Plan plan(List<Batch.Example> examples) {
    List<List<Batch.Example>> rows = pack ? packRows(examples) : singleRows(examples);
    // Rows longest first; consecutive rows fill a micro-batch while rows × longest ≤ budget.
    rows.sort(Comparator.comparingInt(TokenBudgetBatcher::rowLength).reversed());
    List<Batch> batches = new ArrayList<>();
    List<List<Batch.Example>> order = new ArrayList<>();
    long real = 0;
    long computed = 0;
    List<List<Batch.Example>> current = new ArrayList<>();
    int longest = 0;
    for (List<Batch.Example> row : rows) {
      int length = rowLength(row);
      int newLongest = Math.max(longest, length);
      if (!current.isEmpty() && (long) newLongest * (current.size() + 1) > tokenBudget) {
        batches.add(Batch.packed(current, padId));
        order.add(current.stream().flatMap(List::stream).toList());
        computed += (long) longest * current.size();
        current = new ArrayList<>();
        newLongest = length;
      }
      current.add(row);
      longest = newLongest;
      real += length;
    }
    if (!current.isEmpty()) {
      batches.add(Batch.packed(current, padId));
      order.add(current.stream().flatMap(List::stream).toList());
      computed += (long) longest * current.size();
    }
    return new Plan(batches, real, computed, order);
  }

  private static List<List<Batch.Example>> singleRows(List<Batch.Example> examples) {
    List<List<Batch.Example>> rows = new ArrayList<>();
    examples.forEach(e -> rows.add(List.of(e)));
    return rows;
  }

  private List<List<Batch.Example>> packRows(List<Batch.Example> examples) {
    List<Batch.Example> sorted = new ArrayList<>(examples);
    sorted.sort(Comparator.comparingInt((Batch.Example e) -> e.ids().length).reversed());
    List<List<Batch.Example>> rows = new ArrayList<>();
    List<Integer> used = new ArrayList<>();
    for (Batch.Example e : sorted) {
      int placed = -1;
      for (int r = 0; r < rows.size(); r++) {
        if (used.get(r) + e.ids().length <= rowCapacity) {
          placed = r;
          break;
        }
      }
      if (placed < 0) {
        rows.add(new ArrayList<>());
        used.add(0);
        placed = rows.size() - 1;
      }
      rows.get(placed).add(e);
      used.set(placed, used.get(placed) + e.ids().length);
    }
    return rows;
  }

  private static int rowLength(List<Batch.Example> row) {
    return row.stream().mapToInt(e -> e.ids().length).sum();
  }
}
