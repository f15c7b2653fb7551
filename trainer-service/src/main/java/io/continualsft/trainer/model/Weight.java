package io.continualsft.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.util.function.Supplier;

/**
 * A named tensor's shape and float32 values: held in an array (generated weights), or read from
 * the model file only when the model is built ({@link #read}).
 */
public final class Weight {
  private final long[] shape;
  private final float[] data;
  private final Supplier<ByteBuffer> reader;

  public Weight(long[] shape, float[] data) {
    this.shape = shape;
    this.data = data;
    this.reader = null;
  }

  private Weight(long[] shape, Supplier<ByteBuffer> reader) {
    this.shape = shape;
    this.data = null;
    this.reader = reader;
  }

  /**
   * A weight whose values {@code reader} supplies, when needed, as a direct buffer of native-order
   * float32. A model built from such weights holds each tensor once, in that buffer: no copy in
   * the Java heap, no mapped file pages (see {@link ModelLoader#load}).
   */
  public static Weight read(long[] shape, Supplier<ByteBuffer> reader) {
    return new Weight(shape, reader);
  }

  public long[] shape() {
    return shape;
  }

  /** The values; a weight that is {@link #read} is read again for each call. */
  public float[] data() {
    if (data != null) {
      return data;
    }
    ByteBuffer buffer = reader.get();
    float[] out = new float[buffer.remaining() / Float.BYTES];
    buffer.asFloatBuffer().get(out);
    return out;
  }

  /** The weight as an array of {@code manager}, of shape {@code dims}. */
  NDArray toArray(NDManager manager, Shape dims) {
    return data != null ? manager.create(data, dims)
        : manager.create(reader.get(), dims, DataType.FLOAT32);
  }
}
