package io.continualsft.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.continualsft.chat.labels.LabelContract;
import java.util.List;

/**
 * A micro-batch as the model sees it: [B, T] token ids, labels (by the {@link LabelContract}),
 * positions (restarting at 0 for every example) and segments (each token's example number within
 * its row, from 1; 0 for padding).
 */
public record Batch(int[][] idsRows, int[][] labels, int[][] positionRows, int[][] segments) {
  /**
   * How a person rated an example's completion, for a preference objective (KTO); {@link #NONE}
   * for a supervised example, whose labels are the whole signal.
   */
  public enum Rating { NONE, DESIRABLE, UNDESIRABLE }

  /** One example: ids and labels of equal length, and its rating (NONE: an SFT example). */
  public record Example(int[] ids, int[] labels, Rating rating) {
    public Example {
      try {
        LabelContract.checkLengths(ids.length, labels.length);
      } catch (LabelContract.Violation e) {
        throw new IllegalArgumentException("ids and labels must have the same, non-zero length: "
            + e.getMessage(), e);
      }
      java.util.Objects.requireNonNull(rating, "rating");
      if (rating != Rating.NONE && !scoresItsTail(ids, labels)) {
        throw new IllegalArgumentException("a rated example must score every token from its"
            + " first scored one to its end, after a prompt of at least one token");
      }
    }

    /** A rated example's shape: a prompt of ignored labels, then its completion, all scored. */
    private static boolean scoresItsTail(int[] ids, int[] labels) {
      int start = firstScored(labels);
      if (start == 0 || start == labels.length) {
        return false;
      }
      for (int i = start; i < labels.length; i++) {
        if (labels[i] != ids[i]) {
          return false;
        }
      }
      return true;
    }

    private static int firstScored(int[] labels) {
      int i = 0;
      while (i < labels.length && !LabelContract.isTrained(labels[i])) {
        i++;
      }
      return i;
    }

    /** Where a rated example's completion starts: its first scored token. */
    public int completionStart() {
      return firstScored(labels);
    }

    /** A supervised example. */
    public Example(int[] ids, int[] labels) {
      this(ids, labels, Rating.NONE);
    }

    /**
     * The targets the loss counts for this example on its own: positions whose next label is
     * trained (what {@link SftLoss#trainedTargets} counts per example of a batch).
     */
    public long targets() {
      long n = 0;
      for (int i = 1; i < labels.length; i++) {
        n += LabelContract.isTrained(labels[i]) ? 1 : 0;
      }
      return n;
    }

    /** From the boxed lists an Avro {@code SftExample} carries. */
    public static Example of(List<Integer> ids, List<Integer> labels) {
      return new Example(ids.stream().mapToInt(Integer::intValue).toArray(),
          labels.stream().mapToInt(Integer::intValue).toArray());
    }
  }

  public int rows() {
    return idsRows.length;
  }

  public int time() {
    return idsRows[0].length;
  }

  /** Each row holds the examples of one inner list, in order, right-padded with {@code padId}. */
  public static Batch packed(List<List<Example>> rows, int padId) {
    int time = 0;
    for (List<Example> row : rows) {
      time = Math.max(time, row.stream().mapToInt(e -> e.ids().length).sum());
    }
    int[][] ids = new int[rows.size()][time];
    int[][] labels = new int[rows.size()][time];
    int[][] positions = new int[rows.size()][time];
    int[][] segments = new int[rows.size()][time];
    for (int b = 0; b < rows.size(); b++) {
      java.util.Arrays.fill(ids[b], padId);
      java.util.Arrays.fill(labels[b], LabelContract.IGNORE_INDEX);
      int t = 0;
      int segment = 0;
      for (Example e : rows.get(b)) {
        segment++;
        for (int i = 0; i < e.ids().length; i++, t++) {
          ids[b][t] = e.ids()[i];
          labels[b][t] = e.labels()[i];
          positions[b][t] = i;
          segments[b][t] = segment;
        }
      }
    }
    return new Batch(ids, labels, positions, segments);
  }

  /** One example per row. */
  public static Batch separate(List<Example> examples, int padId) {
    return packed(examples.stream().map(List::of).toList(), padId);
  }

  /**
   * For each row, the running index (over all rows) of its first example; the last entry is the
   * number of examples in the batch.
   */
  public int[] firstExampleOfRows() {
    int[] first = new int[rows() + 1];
    for (int b = 0; b < rows(); b++) {
      int examples = 0;
      for (int s : segments[b]) {
        examples = Math.max(examples, s);
      }
      first[b + 1] = first[b] + examples;
    }
    return first;
  }

  public NDArray ids(NDManager m) {
    return m.create(flatten(idsRows), new Shape(rows(), time())).toType(ai.djl.ndarray.types.DataType.INT64, false);
  }

  public NDArray positions(NDManager m) {
    return m.create(flatten(positionRows), new Shape(rows(), time())).toType(ai.djl.ndarray.types.DataType.INT64, false);
  }

  public NDArray segments(NDManager m) {
    return m.create(flatten(segments), new Shape(rows(), time()));
  }

  private static int[] flatten(int[][] rows) {
    int time = rows[0].length;
    int[] out = new int[rows.length * time];
    for (int b = 0; b < rows.length; b++) {
      System.arraycopy(rows[b], 0, out, b * time, time);
    }
    return out;
  }
}
