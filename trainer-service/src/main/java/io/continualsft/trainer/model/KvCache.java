package io.continualsft.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;

/**
 * Keys and values of every layer for the tokens decoded so far ([1, nkv, T, D] each, after
 * RoPE), so each new token costs one position instead of the whole sequence.
 */
public final class KvCache {
  private final NDArray[] keys;
  private final NDArray[] values;
  private int length;

  public KvCache(int layers) {
    keys = new NDArray[layers];
    values = new NDArray[layers];
  }

  public int length() {
    return length;
  }

  /** {@code tokens} more positions are cached. */
  void advance(int tokens) {
    length += tokens;
  }

  NDArray[] append(int layer, NDArray k, NDArray v) {
    keys[layer] = keys[layer] == null ? k : NDArrays.concat(new NDList(keys[layer], k), 2);
    values[layer] = values[layer] == null ? v : NDArrays.concat(new NDList(values[layer], v), 2);
    return new NDArray[] {keys[layer], values[layer]};
  }
}
