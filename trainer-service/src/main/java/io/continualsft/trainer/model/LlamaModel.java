package io.continualsft.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Embedding;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Llama-family decoder (Llama, Mistral, Qwen2, Qwen3), top to bottom: embed → L × [RMSNorm → attention (RoPE, grouped-query, Qwen3's per-head q/k norm) →
 * residual → RMSNorm → SwiGLU MLP → residual] → RMSNorm → LM head.
 *
 * <p>Every weight here is frozen: only what an adapter attaches to a {@link FrozenLinear} (the
 * {@code lora} package's A and B) requires gradients, so a backward pass leaves every base
 * weight without a gradient. Rows may be packed: {@code segments} gives each token its example number within the
 * row (0 = padding); attention is causal within an example and never crosses examples.
 *
 * <p>Memory rule (DJL): results belong to the receiver's manager, so every op is written
 * activation-first ({@code x.mul(weight)}), keeping a step's intermediates in the step's manager.
 */
public final class LlamaModel implements AutoCloseable {
  private final ModelConfig config;
  private final NDManager params;
  private final NDArray embed; // [V, H]
  private final List<Block> blocks;
  private final NDArray finalNorm; // [H]
  private final NDArray lmHead; // [V, H], the embedding itself when tied
  private final float[] invFreq; // [D/2]
  private boolean training;

  /** One decoder layer. */
  static final class Block {
    final NDArray inputNorm; // [H]
    final NDArray postNorm; // [H]
    final Map<String, FrozenLinear> linears; // q_proj ... down_proj
    final NDArray qNorm; // [D] (Qwen3) or null
    final NDArray kNorm; // [D] (Qwen3) or null

    Block(NDArray inputNorm, NDArray postNorm, Map<String, FrozenLinear> linears, NDArray qNorm,
        NDArray kNorm) {
      this.inputNorm = inputNorm;
      this.postNorm = postNorm;
      this.linears = linears;
      this.qNorm = qNorm;
      this.kNorm = kNorm;
    }
  }

  private LlamaModel(ModelConfig config, NDManager params, NDArray embed, List<Block> blocks,
      NDArray finalNorm, NDArray lmHead) {
    this.config = config;
    this.params = params;
    this.embed = embed;
    this.blocks = blocks;
    this.finalNorm = finalNorm;
    this.lmHead = lmHead;
    int half = config.headDim() / 2;
    this.invFreq = new float[half];
    for (int i = 0; i < half; i++) {
      // As transformers computes it: base ** (arange(0, d, 2) / d), in float32.
      float exponent = (float) (2 * i) / (float) config.headDim();
      invFreq[i] = (float) (1.0 / Math.pow(config.ropeTheta(), exponent));
    }
  }

  /** Builds the model from Hugging Face weights (see {@link WeightNames}), on {@code params}. */
  public static LlamaModel fromWeights(ModelConfig config, Map<String, Weight> weights,
      NDManager params) {
    WeightNames.check(config, weights);
    NDArray embed = tensor(params, weights, "model.embed_tokens.weight",
        config.vocabSize(), config.hiddenSize());
    List<Block> blocks = new ArrayList<>();
    for (int i = 0; i < config.numLayers(); i++) {
      String p = "model.layers." + i + ".";
      Map<String, FrozenLinear> linears = new LinkedHashMap<>();
      for (String module : LinearModules.ALL) {
        String name = p + LinearModules.block(module) + "." + module;
        long[] shape = WeightNames.linearShape(config, module);
        NDArray bias = config.attentionBias() && LinearModules.hasBias(module)
            ? tensor(params, weights, name + ".bias", shape[0]) : null;
        linears.put(module, new FrozenLinear(tensor(params, weights, name + ".weight", shape), bias));
      }
      blocks.add(new Block(
          tensor(params, weights, p + "input_layernorm.weight", config.hiddenSize()),
          tensor(params, weights, p + "post_attention_layernorm.weight", config.hiddenSize()),
          linears,
          config.qkNorm() ? tensor(params, weights, p + "self_attn.q_norm.weight", config.headDim()) : null,
          config.qkNorm() ? tensor(params, weights, p + "self_attn.k_norm.weight", config.headDim()) : null));
    }
    NDArray norm = tensor(params, weights, "model.norm.weight", config.hiddenSize());
    NDArray head = config.tieWordEmbeddings() ? embed
        : tensor(params, weights, "lm_head.weight", config.vocabSize(), config.hiddenSize());
    return new LlamaModel(config, params, embed, blocks, norm, head);
  }

  private static NDArray tensor(NDManager m, Map<String, Weight> weights, String name,
      long... shape) {
    return weights.get(name).toArray(m, new Shape(shape));
  }

  public ModelConfig config() {
    return config;
  }

  /** Training mode applies LoRA dropout (as PyTorch's module.train()); off by default. */
  public void setTraining(boolean training) {
    this.training = training;
  }

  // --- what an adapter attaches to -----------------------------------------------------------

  /** The linear map {@code module} (q_proj ... down_proj) of decoder layer {@code layer}. */
  public FrozenLinear linear(int layer, String module) {
    LinearModules.requireKnown(module);
    return blocks.get(layer).linears.get(module);
  }

  /** A manager for parameters that live as long as they are attached (an adapter's). */
  public NDManager newParameterManager() {
    return params.newSubManager();
  }

  /** Every frozen weight, for tests that check none of them gets a gradient. */
  List<NDArray> frozenWeights() {
    List<NDArray> out = new ArrayList<>(List.of(embed, finalNorm));
    if (lmHead != embed) {
      out.add(lmHead);
    }
    for (Block b : blocks) {
      out.add(b.inputNorm);
      out.add(b.postNorm);
      b.linears.values().forEach(l -> {
        out.add(l.weight);
        if (l.bias != null) {
          out.add(l.bias);
        }
      });
      if (b.qNorm != null) {
        out.add(b.qNorm);
        out.add(b.kNorm);
      }
    }
    return out;
  }

  // --- forward ---------------------------------------------------------------------------------

  /**
   * Hidden states after the final norm: [B, T, H]. {@code ids}, {@code positions} and {@code
   * segments} are [B, T]; they must live in the step's manager.
   */
  public NDArray hidden(NDArray ids, NDArray positions, NDArray segments) {
    NDArray x = Embedding.embedding(ids, embed, ai.djl.ndarray.types.SparseFormat.DENSE)
        .singletonOrThrow(); // [B, T, H]
    NDArray mask = attentionMask(segments); // [B, 1, T, T], 0 or -inf
    NDArray[] rope = rotary(positions); // cos, sin: [B, 1, T, D]
    for (Block block : blocks) {
      x = residual(x, attention(block, rmsNorm(x, block.inputNorm), mask, rope, null, 0));
      x = residual(x, mlp(block, rmsNorm(x, block.postNorm)));
    }
    return rmsNorm(x, finalNorm);
  }

  /**
   * x + branch, freeing both inputs' handles at once. DJL keeps every array until its manager
   * closes, where PyTorch frees a tensor with its last reference; closing a handle autograd still
   * needs is safe (autograd holds its own reference), and an add's backward needs neither input.
   * Closing arrays that are not needed any more is what keeps a step's memory near PyTorch's.
   */
  private static NDArray residual(NDArray x, NDArray branch) {
    NDArray out = x.add(branch);
    x.close();
    branch.close();
    return out;
  }

  /**
   * Feeds {@code ids} (one sequence) after what {@code cache} holds and returns the logits of the
   * last one: [V]. All arrays go to {@code manager}; the caller closes it after generating.
   */
  public NDArray nextLogits(int[] ids, KvCache cache, NDManager manager) {
    int past = cache.length();
    int t = ids.length;
    long[] positions = new long[t];
    for (int i = 0; i < t; i++) {
      positions[i] = past + i;
    }
    NDArray idArray = manager.create(ids, new Shape(1, t)).toType(DataType.INT64, false);
    NDArray x = Embedding.embedding(idArray, embed, ai.djl.ndarray.types.SparseFormat.DENSE)
        .singletonOrThrow(); // [1, t, H]
    NDArray[] rope = rotary(manager.create(positions, new Shape(1, t)));
    // Query i (absolute position past + i) sees keys 0 .. past + i.
    NDArray key = manager.arange(past + t).expandDims(0); // [1, past + t]
    NDArray query = manager.arange(past, past + t).expandDims(1); // [t, 1]
    NDArray allowed = key.lte(query); // [t, past + t]
    NDArray mask = NDArrays.where(allowed, manager.zeros(allowed.getShape()),
        manager.full(allowed.getShape(), Float.NEGATIVE_INFINITY)).expandDims(0).expandDims(0);
    for (int layer = 0; layer < blocks.size(); layer++) {
      Block block = blocks.get(layer);
      x = x.add(attention(block, rmsNorm(x, block.inputNorm), mask, rope, cache, layer));
      x = x.add(mlp(block, rmsNorm(x, block.postNorm)));
    }
    cache.advance(t);
    NDArray last = rmsNorm(x, finalNorm).get(":, -1, :"); // [1, H]
    return head(last).reshape(config.vocabSize());
  }

  /** Logits for every position: [B, T, V]. For tests and generation; training never needs it. */
  public NDArray logits(NDArray ids, NDArray positions, NDArray segments) {
    return ai.djl.nn.core.Linear.linear(hidden(ids, positions, segments), lmHead, null)
        .singletonOrThrow();
  }

  /** The LM head's weight, [V, H] (the embedding when tied); frozen. */
  public NDArray headWeight() {
    return lmHead;
  }

  /** Logits of selected hidden states [N, H] → [N, V]. */
  public NDArray head(NDArray hidden) {
    return ai.djl.nn.core.Linear.linear(hidden, lmHead, null).singletonOrThrow();
  }

  /**
   * A scalar operand for a differentiable op, kept in {@code like}'s manager until the step's
   * backward is done. Never write {@code x.mul(2f)} in the graph: DJL turns the number into a
   * temporary tensor over a Java direct buffer and closes it at once, but autograd keeps that
   * tensor for the backward pass, which then reads memory the GC may have freed (NaN or, worse,
   * finite garbage). Ops whose backward does not need the operand (add, sub) are safe.
   */
  public static NDArray scalar(NDArray like, float value) {
    return like.getManager().create(value);
  }

  private NDArray rmsNorm(NDArray x, NDArray weight) { // [..., H] -> [..., H]
    NDArray squares = x.mul(x);
    NDArray variance = squares.mean(new int[] {-1}, true);
    squares.close(); // [..., H], not needed by backward
    NDArray normed = x.mul(variance.add((float) config.rmsNormEps()).pow(scalar(x, -0.5f)));
    NDArray out = normed.mul(weight);
    normed.close();
    return out;
  }

  private NDArray attention(Block block, NDArray x, NDArray mask, NDArray[] rope, KvCache cache,
      int layer) {
    long batch = x.getShape().get(0);
    long time = x.getShape().get(1);
    int heads = config.numHeads();
    int kvHeads = config.numKvHeads();
    int d = config.headDim();
    NDArray q = block.linears.get("q_proj").forward(x, training).reshape(batch, time, heads, d);
    NDArray k = block.linears.get("k_proj").forward(x, training).reshape(batch, time, kvHeads, d);
    NDArray v = block.linears.get("v_proj").forward(x, training).reshape(batch, time, kvHeads, d);
    if (block.qNorm != null) { // Qwen3: RMSNorm over each head's vector, before RoPE
      q = rmsNorm(q, block.qNorm);
      k = rmsNorm(k, block.kNorm);
    }
    q = applyRope(q.transpose(0, 2, 1, 3), rope); // [B, nh, T, D]
    k = applyRope(k.transpose(0, 2, 1, 3), rope); // [B, nkv, T, D]
    v = v.transpose(0, 2, 1, 3); // [B, nkv, T, D]
    if (cache != null) { // keys and values of earlier tokens, then these: [1, nkv, past + T, D]
      NDArray[] kv = cache.append(layer, k, v);
      k = kv[0];
      v = kv[1];
    }
    if (heads != kvHeads) { // grouped-query attention: each kv head serves heads/kvHeads queries
      k = k.repeat(1, heads / kvHeads);
      v = v.repeat(1, heads / kvHeads);
    }
    // The [B, nh, T, T] arrays are most of a long row's memory. DJL keeps every array until its
    // manager closes, autograd only what backward needs (here the softmax), so they are closed
    // as soon as they are used, the scale goes on q ([T, D] rather than [T, T]) and the mask is
    // added in place (matmul's backward does not need its output).
    NDArray scores = q.mul(scalar(q, (float) (1.0 / Math.sqrt(d))))
        .matMul(k.transpose(0, 1, 3, 2)).addi(mask); // [B, nh, T, T]
    NDArray probs = scores.softmax(-1);
    scores.close();
    NDArray out = probs.matMul(v); // [B, nh, T, D]
    probs.close();
    out = out.transpose(0, 2, 1, 3).reshape(batch, time, (long) heads * d); // [B, T, nh*D]
    return block.linears.get("o_proj").forward(out, training);
  }

  private NDArray mlp(Block block, NDArray x) {
    NDArray gate = block.linears.get("gate_proj").forward(x, training);
    // x·sigmoid(x) with libtorch's sigmoid: 1/(1+exp(-x)) by hand overflows for x < -88, and its
    // gradient becomes 0·inf = NaN.
    NDArray sigmoid = ai.djl.nn.Activation.sigmoid(gate);
    NDArray silu = gate.mul(sigmoid);
    NDArray up = block.linears.get("up_proj").forward(x, training);
    NDArray product = silu.mul(up);
    NDArray out = block.linears.get("down_proj").forward(product, training);
    for (NDArray done : new NDArray[] {gate, sigmoid, silu, up, product}) {
      done.close(); // [..., I] each: autograd keeps its own references, generation frees them
    }
    return out;
  }

  /** cos and sin of position × inverse frequency, duplicated to the head size: [B, 1, T, D]. */
  private NDArray[] rotary(NDArray positions) {
    NDManager m = positions.getManager();
    NDArray freqs = positions.toType(DataType.FLOAT32, false).expandDims(-1)
        .mul(m.create(invFreq)); // [B, T, D/2]
    NDArray emb = NDArrays.concat(new NDList(freqs, freqs), -1).expandDims(1); // [B, 1, T, D]
    return new NDArray[] {emb.cos(), emb.sin()};
  }

  private static NDArray applyRope(NDArray x, NDArray[] rope) { // [B, h, T, D]
    long half = x.getShape().get(3) / 2;
    NDArray x1 = x.get(":, :, :, :" + half);
    NDArray x2 = x.get(":, :, :, " + half + ":");
    NDArray negated = x2.neg();
    NDArray rotated = NDArrays.concat(new NDList(negated, x1), -1); // rotate_half
    NDArray cos = x.mul(rope[0]);
    NDArray sin = rotated.mul(rope[1]);
    NDArray out = cos.add(sin);
    for (NDArray done : new NDArray[] {x1, x2, negated, rotated, cos, sin}) {
      done.close(); // what backward needs, autograd keeps; the rest is freed now
    }
    return out;
  }

  /**
   * 0 where query i may attend to key j (same example, j ≤ i), -inf elsewhere; padding queries
   * attend only to themselves so no row is all -inf. [B, 1, T, T].
   */
  private static NDArray attentionMask(NDArray segments) {
    NDManager m = segments.getManager();
    long time = segments.getShape().get(1);
    NDArray index = m.arange((int) time);
    NDArray causal = index.expandDims(0).lte(index.expandDims(1)); // [T, T]: j <= i
    NDArray same = segments.expandDims(2).eq(segments.expandDims(1)); // [B, T, T]
    NDArray diagonal = index.expandDims(0).eq(index.expandDims(1)); // [T, T]
    NDArray allowed = same.logicalAnd(causal.expandDims(0)).logicalOr(diagonal.expandDims(0));
    try (NDArray zeros = m.zeros(allowed.getShape());
        NDArray blocked = m.full(allowed.getShape(), Float.NEGATIVE_INFINITY)) {
      return NDArrays.where(allowed, zeros, blocked).expandDims(1);
    }
  }

  @Override
  public void close() {
    params.close();
  }
}
