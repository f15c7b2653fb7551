package io.continualsft.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.List;

/**
 * Causal self-attention within each example of a row (rows may be packed with several
 * examples; attention never crosses one), either dense or in blocks of queries.
 *
 * <pre>
 *   q: [B, nh, T, D]   k, v: [B, nkv, T, D]   out: [B, nh, T, D]
 * </pre>
 *
 * <p>Dense: one [B, nh, T, T] score tensor with a [B, 1, T, T] mask, for rows of at most {@code
 * block} tokens. Blocked, for longer rows (a packed 2,048-token row above all): the queries of
 * each row in blocks of {@code block}; a block attends only to the keys from the start of the
 * earliest example it holds, so its scores are [nh, block, keys] with keys at most the block
 * plus the part of one example before it, and its mask is built for the block alone. No
 * [T, T] array exists, per head or otherwise; what autograd keeps for a layer is the blocks'
 * scores, about one example's causal triangle for a long example and far less for many short
 * ones. The heads sharing a key and value head (grouped-query attention) share them by
 * broadcasting, without copies.
 */
final class Attention {
  private Attention() {}

  /** How a micro-batch's attention is computed: a dense mask, or each row's query blocks. */
  static final class Plan {
    final NDArray denseMask; // [B, 1, T, T], 0 or -inf; null when blocked
    final List<List<QueryBlock>> rows; // per row, its blocks; null when dense

    private Plan(NDArray denseMask, List<List<QueryBlock>> rows) {
      this.denseMask = denseMask;
      this.rows = rows;
    }

    boolean dense() {
      return denseMask != null;
    }
  }

  /** Queries {@code [from, to)} of a row attend keys {@code [keysFrom, to)} under {@code mask}. */
  record QueryBlock(int from, int to, int keysFrom, NDArray mask) {}

  /**
   * The plan for rows with {@code segments} (each token's example number in its row, from 1; 0
   * for padding), in {@code m}: dense when the rows are at most {@code block} tokens long.
   */
  static Plan plan(int[][] segments, int block, NDManager m) {
    int time = segments[0].length;
    if (time <= block) {
      return new Plan(denseMask(segments, m), null);
    }
    List<List<QueryBlock>> rows = new ArrayList<>();
    for (int[] seg : segments) {
      int[] start = exampleStarts(seg);
      List<QueryBlock> blocks = new ArrayList<>();
      for (int from = 0; from < time; from += block) {
        int to = Math.min(time, from + block);
        int keysFrom = start[from]; // examples are contiguous: the block's first is its earliest
        int keys = to - keysFrom;
        float[] mask = new float[(to - from) * keys];
        for (int i = from; i < to; i++) {
          for (int j = keysFrom; j < to; j++) {
            boolean allowed = j <= i && seg[j] == seg[i];
            mask[(i - from) * keys + (j - keysFrom)] = allowed ? 0f : Float.NEGATIVE_INFINITY;
          }
        }
        blocks.add(new QueryBlock(from, to, keysFrom,
            m.create(mask, new Shape(to - from, keys))));
      }
      rows.add(blocks);
    }
    return new Plan(null, rows);
  }

  /** Per token, where its example (or its run of padding) starts in the row. */
  private static int[] exampleStarts(int[] seg) {
    int[] start = new int[seg.length];
    for (int t = 0; t < seg.length; t++) {
      start[t] = t > 0 && seg[t] == seg[t - 1] ? start[t - 1] : t;
    }
    return start;
  }

  /**
   * 0 where query i may attend to key j (same example, j ≤ i), -inf elsewhere; padding queries
   * attend only to themselves so no row is all -inf. [B, 1, T, T].
   */
  static NDArray denseMask(int[][] segments, NDManager m) {
    int rows = segments.length;
    int time = segments[0].length;
    int[] flat = new int[rows * time];
    for (int b = 0; b < rows; b++) {
      System.arraycopy(segments[b], 0, flat, b * time, time);
    }
    NDArray seg = m.create(flat, new Shape(rows, time));
    NDArray index = m.arange(time);
    NDArray causal = index.expandDims(0).lte(index.expandDims(1)); // [T, T]: j <= i
    NDArray same = seg.expandDims(2).eq(seg.expandDims(1)); // [B, T, T]
    NDArray diagonal = index.expandDims(0).eq(index.expandDims(1)); // [T, T]
    NDArray allowed = same.logicalAnd(causal.expandDims(0)).logicalOr(diagonal.expandDims(0));
    try (NDArray zeros = m.zeros(allowed.getShape());
        NDArray blocked = m.full(allowed.getShape(), Float.NEGATIVE_INFINITY)) {
      return NDArrays.where(allowed, zeros, blocked).expandDims(1);
    }
  }

  /** softmax(q·kᵀ/√D + mask)·v by {@code plan}; {@code q}, {@code k}, {@code v} after RoPE. */
  static NDArray attend(NDArray q, NDArray k, NDArray v, Plan plan, int heads, int kvHeads,
      int d) {
    return plan.dense() ? dense(q, k, v, plan.denseMask, heads, kvHeads, d)
        : blocked(q, k, v, plan, heads, kvHeads, d);
  }

  /** The whole [B, nh, T, T] at once. */
  static NDArray dense(NDArray q, NDArray k, NDArray v, NDArray mask, int heads, int kvHeads,
      int d) {
    boolean grouped = heads != kvHeads;
    if (grouped) { // grouped-query attention: each kv head serves heads/kvHeads queries
      k = k.repeat(1, heads / kvHeads);
      v = v.repeat(1, heads / kvHeads);
    }
    // The [B, nh, T, T] arrays are most of a long row's memory. DJL keeps every array until its
    // manager closes, autograd only what backward needs (here the softmax), so they are closed
    // as soon as they are used, the scale goes on q ([T, D] rather than [T, T]) and the mask is
    // added in place (matmul's backward does not need its output).
    NDArray scaled = q.mul(LlamaModel.scalar(q, (float) (1.0 / Math.sqrt(d))));
    NDArray keysT = k.transpose(0, 1, 3, 2);
    NDArray scores = scaled.matMul(keysT).addi(mask); // [B, nh, T, T]
    scaled.close();
    keysT.close();
    NDArray probs = scores.softmax(-1);
    scores.close();
    NDArray out = probs.matMul(v); // [B, nh, T, D]
    probs.close();
    if (grouped) {
      k.close();
      v.close();
    }
    return out;
  }

  /** Row by row, block by block. */
  private static NDArray blocked(NDArray q, NDArray k, NDArray v, Plan plan, int heads,
      int kvHeads, int d) {
    int group = heads / kvHeads;
    NDArray scale = LlamaModel.scalar(q, (float) (1.0 / Math.sqrt(d)));
    NDList rows = new NDList();
    for (int b = 0; b < plan.rows.size(); b++) {
      NDList outs = new NDList();
      for (QueryBlock block : plan.rows.get(b)) {
        long queries = block.to() - block.from();
        NDArray qRows = q.get(b + ", :, " + block.from() + ":" + block.to() + ", :"); // [nh, bq, D]
        NDArray qb = qRows.reshape(kvHeads, group, queries, d);
        NDArray kRows = k.get(b + ", :, " + block.keysFrom() + ":" + block.to() + ", :"); // [nkv, kb, D]
        NDArray kb = kRows.expandDims(1);
        NDArray vRows = v.get(b + ", :, " + block.keysFrom() + ":" + block.to() + ", :");
        NDArray vb = vRows.expandDims(1);
        NDArray scaled = qb.mul(scale);
        NDArray keysT = kb.transpose(0, 1, 3, 2);
        NDArray scores = scaled.matMul(keysT).addi(block.mask()); // [nkv, g, bq, kb]
        for (NDArray done : new NDArray[] {qRows, kRows, vRows, scaled, keysT}) {
          done.close();
        }
        NDArray probs = scores.softmax(-1);
        scores.close();
        NDArray out = probs.matMul(vb); // [nkv, g, bq, D]
        probs.close();
        outs.add(out.reshape(heads, queries, d));
        out.close();
        qb.close();
        kb.close();
        vb.close();
      }
      NDArray row = outs.size() == 1 ? outs.get(0) : NDArrays.concat(outs, 1); // [nh, T, D]
      if (outs.size() > 1) {
        outs.close();
      }
      rows.add(row);
    }
    NDArray out = rows.size() == 1 ? rows.get(0).expandDims(0) : NDArrays.stack(rows, 0);
    rows.close();
    return out;
  }
}
