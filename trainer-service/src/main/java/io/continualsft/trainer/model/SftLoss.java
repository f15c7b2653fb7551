package io.continualsft.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.continualsft.chat.labels.LabelContract;

/**
 * Cross-entropy of the SFT objective, with the Hugging Face shift: the hidden state at t predicts
 * the label at t+1, within the same example only, and only where that label is trained (see
 * {@link LabelContract}). Those
 * hidden states are selected before the LM head, so the [B, T, V] logits are never built.
 */
public final class SftLoss {
  private SftLoss() {}

  /**
   * The summed loss (a scalar that backpropagates), the number of trained tokens it sums over, and
   * per-example sums and counts in the order (row, segment).
   */
  public record Result(NDArray sum, int tokens, double[] exampleLoss, int[] exampleTokens) {
    public double mean() {
      return sum.getFloat() / tokens;
    }
  }

  public static Result compute(LlamaModel model, Batch batch, NDManager step) {
    int rows = batch.rows();
    int time = batch.time();
    int[] firstExample = batch.firstExampleOfRows(); // [rows + 1], a running count
    long[] positions = new long[rows * time];
    long[] targetIds = new long[rows * time];
    int[] exampleOf = new int[rows * time];
    int n = 0;
    for (int b = 0; b < rows; b++) {
      for (int t = 0; t < time; t++) {
        int target = target(batch, b, t);
        if (LabelContract.isTrained(target)) {
          positions[n] = (long) b * time + t;
          targetIds[n] = target;
          exampleOf[n] = firstExample[b] + batch.segments()[b][t] - 1;
          n++;
        }
      }
    }
    if (n == 0) {
      throw new IllegalArgumentException("the batch has no trained token");
    }
    long[] targets = java.util.Arrays.copyOf(targetIds, n);
    int examples = firstExample[rows];
    NDArray hidden = model.hidden(batch.ids(step), batch.positions(step), batch.segments(step));
    NDArray selected = hidden.reshape(rows * (long) time, model.config().hiddenSize())
        .get(new ai.djl.ndarray.index.NDIndex("{}",
            step.create(java.util.Arrays.copyOf(positions, n)))); // [N, H]
    NDArray logProbs = model.head(selected).logSoftmax(-1); // [N, V]
    NDArray nll = logProbs.gather(step.create(targets, new Shape(n, 1)), 1).neg(); // [N, 1]
    NDArray sum = nll.sum();
    float[] perToken = nll.toFloatArray();
    double[] exampleLoss = new double[examples];
    int[] exampleTokens = new int[examples];
    for (int i = 0; i < n; i++) {
      exampleLoss[exampleOf[i]] += perToken[i];
      exampleTokens[exampleOf[i]]++;
    }
    return new Result(sum, n, exampleLoss, exampleTokens);
  }

  /** How many targets the loss counts in {@code batch}: what a step normalises by. */
  public static long trainedTargets(Batch batch) {
    long n = 0;
    for (int b = 0; b < batch.rows(); b++) {
      for (int t = 0; t < batch.time(); t++) {
        if (LabelContract.isTrained(target(batch, b, t))) {
          n++;
        }
      }
    }
    return n;
  }

  /** The label the hidden state at (b, t) is trained to predict, or the ignore index. */
  static int target(Batch batch, int b, int t) {
    int[] seg = batch.segments()[b];
    if (t + 1 >= batch.time() || seg[t] == 0 || seg[t + 1] != seg[t]) {
      return LabelContract.IGNORE_INDEX;
    }
    return batch.labels()[b][t + 1];
  }
}
