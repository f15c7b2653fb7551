package io.continualsft.trainer.model;

import ai.djl.ndarray.NDArray;

/**
 * One linear map of a decoder layer, {@code y = x·Wᵀ + b}, W and b frozen (W in the model's
 * {@link Precision}, through {@link FrozenOps}), plus what an attached
 * {@link Adapter} adds (as PEFT wraps the base layer: the adapter sees the same input and its
 * output is added). The model knows nothing of how an adapter is made; the {@code lora} package
 * attaches LoRA's.
 *
 * <pre>
 *   x: [..., in]   weight: [out, in]   bias: [out] or none   y: [..., out]
 * </pre>
 */
public final class FrozenLinear {
  /** What an adapter adds to a frozen linear map's output: {@code [..., in] -> [..., out]}. */
  public interface Adapter {
    /** The term added to {@code x·Wᵀ + b}, in {@code x}'s manager; dropout only when training. */
    NDArray delta(NDArray x, boolean training);
  }

  final NDArray weight; // [out, in], stored in the model's precision
  final NDArray bias; // [out] (FP32) or null
  private final FrozenOps ops;
  private final long in;
  private final long out;
  private Adapter adapter;
  private boolean adapterEnabled = true;

  FrozenLinear(NDArray weight, NDArray bias, FrozenOps ops, long out, long in) {
    this.weight = weight;
    this.bias = bias;
    this.ops = ops;
    this.out = out;
    this.in = in;
  }

  public long inFeatures() {
    return in;
  }

  public long outFeatures() {
    return out;
  }

  /** Whether an adapter wraps this map. */
  boolean adapted() {
    return adapter != null;
  }

  /** Wraps the map with {@code adapter} (null: the frozen map alone again). */
  public void attach(Adapter adapter) {
    this.adapter = adapter;
  }

  /** Whether the attached adapter's term is added (PEFT's disable_adapter switches it off). */
  void enableAdapter(boolean enabled) {
    this.adapterEnabled = enabled;
  }

  NDArray forward(NDArray x, boolean training) { // [..., in] -> [..., out]
    NDArray y = ops.linear(x, weight, bias);
    if (adapter == null || !adapterEnabled) {
      return y;
    }
    NDArray delta = adapter.delta(x, training);
    NDArray out = y.add(delta);
    // Handles, not values: autograd keeps what backward needs; the [..., out] arrays it does not
    // need are freed now rather than when the step ends.
    delta.close();
    y.close();
    return out;
  }
}
