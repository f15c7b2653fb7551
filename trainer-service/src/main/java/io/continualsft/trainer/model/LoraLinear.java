package io.continualsft.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;

/**
 * One linear map of a decoder layer, {@code y = x·Wᵀ + b}, wrapped as PEFT wraps it when it
 * carries an adapter: {@code y + scaling·(dropout(x)·Aᵀ)·Bᵀ}, W and b frozen, A [r, in] and
 * B [out, r] trained.
 */
final class LoraLinear {
  final NDArray weight; // [out, in]
  final NDArray bias; // [out] or null
  private NDArray loraA; // [r, in]
  private NDArray loraB; // [out, r]
  private float scaling;
  private float dropout;

  LoraLinear(NDArray weight, NDArray bias) {
    this.weight = weight;
    this.bias = bias;
  }

  /** Wraps the map with adapter matrices {@code a} and {@code b}, which it then owns. */
  void attach(NDArray a, NDArray b, float scaling, float dropout) {
    detach();
    a.setRequiresGradient(true);
    b.setRequiresGradient(true);
    this.loraA = a;
    this.loraB = b;
    this.scaling = scaling;
    this.dropout = dropout;
  }

  /** Closes the adapter matrices, if any: the map is the frozen base again. */
  void detach() {
    if (loraA != null) {
      loraA.close();
      loraB.close();
      loraA = null;
      loraB = null;
    }
  }

  NDArray loraA() {
    return loraA;
  }

  NDArray loraB() {
    return loraB;
  }

  NDArray forward(NDArray x, boolean training) { // [..., in] -> [..., out]
    NDArray y = Linear.linear(x, weight, bias).singletonOrThrow();
    if (loraA == null) {
      return y;
    }
    // As PEFT: dropout on the adapter's input only, and only while training.
    NDArray in = training && dropout > 0 ? Dropout.dropout(x, dropout, true).singletonOrThrow() : x;
    NDArray down = Linear.linear(in, loraA, null).singletonOrThrow(); // [..., r]
    NDArray up = Linear.linear(down, loraB, null).singletonOrThrow(); // [..., out]
    NDArray scaled = up.mul(LlamaModel.scalar(up, scaling));
    NDArray out = y.add(scaled);
    // Handles, not values: autograd keeps what backward needs (down, the dropout mask); the
    // [..., out] arrays it does not need are freed now rather than when the step ends.
    up.close();
    scaled.close();
    y.close();
    return out;
  }
}
