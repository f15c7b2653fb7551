package io.continualsft.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.continualsft.trainer.safetensors.Safetensors;
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
  private final Slices slices;

  /** Reads a weight's values as float32 slices into a staging buffer (see {@link #slices}). */
  @FunctionalInterface
  public interface Slices {
    void read(ByteBuffer staging, Safetensors.Reader.SliceSink sink);
  }

  public Weight(long[] shape, float[] data) {
    this.shape = shape;
    this.data = data;
    this.reader = null;
    this.slices = null;
  }

  private Weight(long[] shape, Supplier<ByteBuffer> reader, Slices slices) {
    this.shape = shape;
    this.data = null;
    this.reader = reader;
    this.slices = slices;
  }

  /**
   * A weight whose values {@code reader} supplies, when needed, as a direct buffer of native-order
   * float32. A model built from such weights holds each tensor once, in that buffer: no copy in
   * the Java heap, no mapped file pages (see {@link ModelLoader#load}).
   */
  public static Weight read(long[] shape, Supplier<ByteBuffer> reader, Slices slices) {
    return new Weight(shape, reader, slices);
  }

  /**
   * The values in slices of at most {@code staging}'s capacity, each converted into {@code
   * staging} (direct, native order, reused): for storing them in another form without a full
   * float32 copy.
   */
  void slices(ByteBuffer staging, Safetensors.Reader.SliceSink sink) {
    if (slices != null) {
      slices.read(staging, sink);
      return;
    }
    int slice = staging.capacity() / Float.BYTES;
    for (int done = 0; done < data.length; done += slice) {
      int n = Math.min(slice, data.length - done);
      staging.clear();
      staging.asFloatBuffer().put(data, done, n);
      staging.limit(n * Float.BYTES);
      sink.accept(staging, done, n);
    }
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
