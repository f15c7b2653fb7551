package io.continualsft.trainer.model;

import java.util.Arrays;

/** A named tensor's shape and float32 values, as read from a checkpoint. */
public record Weight(long[] shape, float[] data) {
  public String shapeString() {
    return Arrays.toString(shape);
  }
}
