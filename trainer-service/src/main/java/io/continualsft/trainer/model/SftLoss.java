package io.continualsft.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Cross-entropy of the SFT objective, with the Hugging Face shift: the hidden state at t predicts
 * the label at t+1, within the same example only, and only where that label is not -100. Those
 * hidden states are selected before the LM head, so the [B, T, V] logits are never built.
 */
public final class SftLoss {
  public static final int IGNORE_INDEX = -100;

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
    boolean[] mask = new boolean[rows * time];
    int n = 0;
    for (int b = 0; b < rows; b++) {
      for (int t = 0; t < time; t++) {
        if (target(batch, b, t) != IGNORE_INDEX) {
          mask[b * time + t] = true;
          n++;
        }
      }
    }
    if (n == 0) {
      throw new IllegalArgumentException("the batch has no trained token");
    }
    long[] targets = new long[n];
    int[] exampleOf = new int[n];
    int k = 0;
    int examples = batch.exampleCount();
    for (int b = 0; b < rows; b++) {
      for (int t = 0; t < time; t++) {
        if (mask[b * time + t]) {
          targets[k] = target(batch, b, t);
          exampleOf[k] = batch.exampleIndex(b, batch.segments()[b][t]);
          k++;
        }
      }
    }
    NDArray hidden = model.hidden(batch.ids(step), batch.positions(step), batch.segments(step));
    long[] positions = new long[n];
    for (int i = 0, j = 0; i < mask.length; i++) {
      if (mask[i]) {
        positions[j++] = i;
      }
    }
    NDArray selected = hidden.reshape(rows * (long) time, model.config().hiddenSize())
        .get(new ai.djl.ndarray.index.NDIndex("{}", step.create(positions))); // [N, H]
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

  /** The label the hidden state at (b, t) is trained to predict, or -100. */
  static int target(Batch batch, int b, int t) {
    int[] seg = batch.segments()[b];
    if (t + 1 >= batch.time() || seg[t] == 0 || seg[t + 1] != seg[t]) {
      return IGNORE_INDEX;
    }
    return batch.labels()[b][t + 1];
  }
}
