package io.continualsft.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import io.continualsft.chat.labels.LabelContract;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntToLongFunction;

/**
 * Cross-entropy of the SFT objective, with the Hugging Face shift: the hidden state at t predicts
 * the label at t+1, within the same example only, and only where that label is trained (see
 * {@link LabelContract}). Those hidden states are selected before the LM head, so the [B, T, V]
 * logits are never built.
 *
 * <p>The LM head and the cross-entropy run in chunks of rows, outside autograd: each chunk's
 * logits give its losses and, when training, the loss's gradient with respect to the selected
 * hidden states, {@code softmax(h·Wᵀ)·W − W[target]} (the head is frozen, so that is all backward
 * needs from it). The chunk's [C, V] tensors are freed before the next one, and {@link
 * Result#objective()} hands the gradient to autograd as {@code sum(h ⊙ G)}. Against logits,
 * log-softmax and gather on the tape this saves three [N, V] tensors alive until backward, the
 * [N, V] zeros and scatter of gather's backward and log-softmax's backward pass: with Qwen3's
 * 151,669-token vocabulary a 700-target micro-batch held about 1.8 GB of them. The same idea as
 * Liger-Kernel's fused linear cross-entropy, written here because nothing DJL offers does it.
 */
public final class SftLoss {
  /**
   * Logits per chunk: 7.5 Mi floats, 30 MiB. glibc's allocator returns blocks above its dynamic
   * mmap threshold (at most 32 MiB) to the kernel on free, so a larger chunk is fresh pages,
   * faulted in and zeroed, on every use; at this size the chunks reuse the same memory. Much
   * smaller chunks cost more than they save: each one reads the whole [V, H] head twice.
   */
  static final long CHUNK_ELEMENTS = 15L << 19;

  private SftLoss() {}

  /**
   * Weights of each example's summed loss in the objective, from the per-example sums and counts
   * of this micro-batch's forward (in (row, segment) order): the gradient handed to autograd is
   * then that of {@code Σ weight[e] · loss[e]}. A preference objective (KTO) is such a sum once
   * its per-example coefficients are known, which needs the forward's own losses first.
   */
  @FunctionalInterface
  public interface ExampleWeights {
    float[] of(double[] exampleLoss, int[] exampleTokens);
  }

  /**
   * The summed loss, the number of trained tokens it sums over, per-example sums and counts in
   * the order (row, segment), and, from {@link #withGradient}, the scalar to backpropagate: its
   * gradient is the summed loss's (its value is not the loss).
   */
  public record Result(NDArray objective, double sum, int tokens, double[] exampleLoss,
      int[] exampleTokens) {
    public double mean() {
      return sum / tokens;
    }
  }

  /**
   * How a forward runs: attention in blocks of {@code attentionBlock} queries for longer rows
   * ({@link Attention}), and which micro-batches recompute each layer's activations in backward
   * rather than keep them: those computing more than {@code recomputeAboveTokens} tokens (rows
   * times their length, padding included).
   */
  public record Forward(int attentionBlock, long recomputeAboveTokens) {
    /** Dense attention at any length, activations kept: the model as it always ran. */
    public static final Forward KEEP_ALL = new Forward(Integer.MAX_VALUE, Long.MAX_VALUE);

    /** Every micro-batch recomputed, attention in blocks of {@code attentionBlock}. */
    public static Forward recomputeAll(int attentionBlock) {
      return new Forward(attentionBlock, 0);
    }

    /** Every micro-batch keeps its activations, attention in blocks of {@code attentionBlock}. */
    public static Forward keepAll(int attentionBlock) {
      return new Forward(attentionBlock, Long.MAX_VALUE);
    }

    /** Whether {@code batch} recomputes its layers in backward. */
    public boolean recomputes(Batch batch) {
      return (long) batch.rows() * batch.time() > recomputeAboveTokens;
    }
  }

  /** Losses only, for evaluation: no gradient is computed. */
  public static Result compute(LlamaModel model, Batch batch, NDManager step) {
    return compute(model, batch, step, Forward.KEEP_ALL);
  }

  /** Losses only, for evaluation, attention by {@code forward}. */
  public static Result compute(LlamaModel model, Batch batch, NDManager step, Forward forward) {
    Targets targets = Targets.of(batch);
    NDArray hidden = model.hidden(batch.ids(step), model.pass(batch.positions(step),
        batch.segments(), forward.attentionBlock(), null));
    return headLoss(model, hidden, targets, step, false, chunkRows(model), null);
  }

  /** Losses and the objective to backpropagate; call inside a GradientCollector. */
  public static Result withGradient(LlamaModel model, Batch batch, NDManager step) {
    return withGradient(model, batch, step, Forward.KEEP_ALL, null);
  }

  /**
   * As {@link #withGradient(LlamaModel, Batch, NDManager)}, attention by {@code forward},
   * each layer drawing its dropout from {@code layerSeeds} when it is not null.
   */
  public static Result withGradient(LlamaModel model, Batch batch, NDManager step,
      Forward forward, IntToLongFunction layerSeeds) {
    return withGradient(model, batch, step, forward, layerSeeds, null);
  }

  /** As above, each example's loss weighted by {@code weights} (null: every weight 1). */
  public static Result withGradient(LlamaModel model, Batch batch, NDManager step,
      Forward forward, IntToLongFunction layerSeeds, ExampleWeights weights) {
    Targets targets = Targets.of(batch);
    NDArray hidden = model.hidden(batch.ids(step), model.pass(batch.positions(step),
        batch.segments(), forward.attentionBlock(), layerSeeds));
    return headLoss(model, hidden, targets, step, true, chunkRows(model), weights);
  }

  /**
   * Rows per chunk: {@link #CHUNK_ELEMENTS} of logits, four times that with a half-precision
   * head. Each chunk reads the whole [V, H] head twice; in FP32 a chunk of this size already
   * keeps the product compute-bound, while BF16 products (AMX) run so much faster that a chunk
   * four times as large stops waiting on memory: 1.09x the speed of {@code train} on a 1 B Llama in
   * BF16 (eight times gave no more), for about 70 MiB more peak RSS.
   */
  static int chunkRows(LlamaModel model) {
    long elements = model.precision() == Precision.FP32 ? CHUNK_ELEMENTS : 4 * CHUNK_ELEMENTS;
    return (int) Math.max(1, elements / model.config().vocabSize());
  }

  static Result compute(LlamaModel model, Batch batch, NDManager step, boolean gradient,
      int chunkRows) {
    Targets targets = Targets.of(batch);
    NDArray hidden = model.hidden(batch.ids(step), batch.positions(step), batch.segments(step));
    return headLoss(model, hidden, targets, step, gradient, chunkRows, null);
  }

  /**
   * The loss's gradients with the layers' activations recomputed in backward (gradient
   * checkpointing), backpropagated here: the forward keeps only each layer's input; then the
   * head's gradient, scaled by {@code 1/divisor}, is handed down layer by layer from the top,
   * each layer run again with autograd on and backpropagated with {@code sum(y ⊙ g)}, whose
   * gradient with respect to the layer's output y is exactly g. Activation memory is one
   * layer's, whatever the depth. Dropout is drawn from {@code layerSeeds} per layer, the same
   * in the forward and its recomputation. Call inside a GradientCollector ({@code collector});
   * the adapter's gradients accumulate as they do with {@link #withGradient}.
   */
  public static Result backwardRecomputed(LlamaModel model, Batch batch, NDManager step,
      Forward forward, IntToLongFunction layerSeeds,
      GradientCollector collector, float divisor) {
    return backwardRecomputed(model, batch, step, forward, layerSeeds, collector, divisor, null);
  }

  /** As above, each example's loss weighted by {@code weights} (null: every weight 1). */
  public static Result backwardRecomputed(LlamaModel model, Batch batch, NDManager step,
      Forward forward, IntToLongFunction layerSeeds,
      GradientCollector collector, float divisor, ExampleWeights weights) {
    Targets targets = Targets.of(batch);
    LlamaModel.Pass pass = model.pass(batch.positions(step), batch.segments(),
        forward.attentionBlock(), layerSeeds);
    int layers = model.layers();
    NDArray[] inputs = new NDArray[layers + 1];
    JniUtils.setGradMode(false); // the forward records no graph
    try {
      inputs[0] = model.embed(batch.ids(step));
      for (int l = 0; l < layers; l++) {
        inputs[l + 1] = model.layer(l, inputs[l], pass);
      }
    } finally {
      JniUtils.setGradMode(true);
    }
    NDArray top = inputs[layers];
    top.setRequiresGradient(true);
    Result result = headLoss(model, model.norm(top), targets, step, true,
        chunkRows(model), weights);
    collector.backward(result.objective().div(step.create(divisor)));
    NDArray g = top.getGradient(); // d(loss / divisor) / d(x_L)
    for (int l = layers - 1; l >= 0; l--) {
      NDArray x = inputs[l];
      if (l > 0) {
        x.setRequiresGradient(true);
      }
      NDArray y = model.layer(l, x, pass);
      collector.backward(y.mul(g).sum());
      y.close();
      g.close();
      inputs[l + 1].close();
      g = l > 0 ? x.getGradient() : null;
    }
    inputs[0].close();
    return new Result(null, result.sum(), result.tokens(), result.exampleLoss(),
        result.exampleTokens());
  }

  /** Which hidden states carry a trained target, and their targets and examples. */
  private record Targets(long[] positions, long[] ids, int[] exampleOf, int count,
      int examples) {
    static Targets of(Batch batch) {
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
      return new Targets(positions, targetIds, exampleOf, n, firstExample[rows]);
    }
  }

  /**
   * The loss of {@code hidden} ([B, T, H], after the final norm) at the targets, through the LM
   * head in chunks; with {@code gradient}, the objective whose gradient is the summed loss's.
   */
  private static Result headLoss(LlamaModel model, NDArray hidden, Targets t, NDManager step,
      boolean gradient, int chunkRows, ExampleWeights weights) {
    int n = t.count();
    long[] shape = hidden.getShape().getShape();
    NDArray flat = hidden.reshape(shape[0] * shape[1], model.config().hiddenSize());
    NDArray selected = flat.get(new NDIndex("{}", step.create(Arrays.copyOf(t.positions(), n))));
    flat.close(); // [B·T, H]: the selection ([N, H], on the tape) is a copy
    hidden.close();
    NDArray frozen = selected.stopGradient(); // the same values, off the tape
    float[] perToken = new float[n];
    List<NDArray> gradients = new ArrayList<>();
    for (int from = 0; from < n; from += chunkRows) {
      int to = Math.min(n, from + chunkRows);
      try (NDManager chunk = step.newSubManager()) {
        NDArray h = frozen.get(from + ":" + to); // [C, H]
        h.attach(chunk); // so everything computed from it is freed with the chunk
        NDArray targets = chunk.create(Arrays.copyOfRange(t.ids(), from, to),
            new Shape(to - from, 1)); // [C, 1]
        NDArray logits = model.head(h); // [C, V]
        NDArray picked = logits.gather(targets, 1); // [C, 1]
        NDArray max = logits.max(new int[] {-1}, true); // [C, 1]
        NDArray exp = logits.subi(max).exp(); // [C, V], exp(logit - max)
        logits.close();
        NDArray sumExp = exp.sum(new int[] {-1}, true); // [C, 1]
        NDArray nll = max.add(sumExp.log()).sub(picked); // [C, 1]: logsumexp - logit[target]
        System.arraycopy(nll.toFloatArray(), 0, perToken, from, to - from);
        if (gradient) {
          NDArray softmax = exp.divi(sumExp); // [C, V]
          NDArray g = model.headTransposed(softmax) // [C, H]
              .subi(model.headRows(targets.reshape(-1)));
          g.attach(step);
          gradients.add(g);
        }
      }
    }
    double sum = 0;
    double[] exampleLoss = new double[t.examples()];
    int[] exampleTokens = new int[t.examples()];
    for (int i = 0; i < n; i++) {
      sum += perToken[i];
      exampleLoss[t.exampleOf()[i]] += perToken[i];
      exampleTokens[t.exampleOf()[i]]++;
    }
    NDArray objective = null;
    if (gradient) {
      NDArray g = gradients.size() == 1 ? gradients.get(0)
          : NDArrays.concat(new NDList(gradients), 0); // [N, H], detached
      if (weights != null) {
        float[] perExample = weights.of(exampleLoss, exampleTokens);
        float[] perTarget = new float[n];
        for (int i = 0; i < n; i++) {
          perTarget[i] = perExample[t.exampleOf()[i]];
        }
        g = g.mul(step.create(perTarget, new Shape(n, 1))); // [N, H]
      }
      objective = selected.mul(g).sum();
    }
    return new Result(objective, sum, n, exampleLoss, exampleTokens);
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
