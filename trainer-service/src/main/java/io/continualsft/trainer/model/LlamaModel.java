package io.continualsft.trainer.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntToLongFunction;

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
  private final FrozenOps ops;
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
      NDArray finalNorm, NDArray lmHead, FrozenOps ops) {
    this.config = config;
    this.ops = ops;
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
    return fromWeights(config, weights, params, Precision.FP32);
  }

  /**
   * As {@link #fromWeights(ModelConfig, Map, NDManager)}, the embedding, the LM head and the
   * linear maps' weights stored in {@code precision} (the norms and biases, small, stay FP32).
   * Each weight is read, converted and its FP32 copy freed before the next.
   */
  public static LlamaModel fromWeights(ModelConfig config, Map<String, Weight> weights,
      NDManager params, Precision precision) {
    WeightNames.check(config, weights);
    FrozenOps ops = FrozenOps.of(precision, params);
    NDArray embed = ops.store(weights.get("model.embed_tokens.weight"),
        new Shape(config.vocabSize(), config.hiddenSize()), params);
    List<Block> blocks = new ArrayList<>();
    for (int i = 0; i < config.numLayers(); i++) {
      String p = "model.layers." + i + ".";
      Map<String, FrozenLinear> linears = new LinkedHashMap<>();
      for (String module : LinearModules.ALL) {
        String name = p + LinearModules.block(module) + "." + module;
        long[] shape = WeightNames.linearShape(config, module);
        NDArray bias = config.attentionBias() && LinearModules.hasBias(module)
            ? tensor(params, weights, name + ".bias", shape[0]) : null;
        linears.put(module, new FrozenLinear(ops.store(weights.get(name + ".weight"),
            new Shape(shape), params), bias, ops, shape[0], shape[1]));
      }
      blocks.add(new Block(
          tensor(params, weights, p + "input_layernorm.weight", config.hiddenSize()),
          tensor(params, weights, p + "post_attention_layernorm.weight", config.hiddenSize()),
          linears,
          config.qkNorm() ? tensor(params, weights, p + "self_attn.q_norm.weight", config.headDim()) : null,
          config.qkNorm() ? tensor(params, weights, p + "self_attn.k_norm.weight", config.headDim()) : null));
    }
    NDArray norm = tensor(params, weights, "model.norm.weight", config.hiddenSize());
    NDArray head = config.tieWordEmbeddings() ? embed : ops.store(weights.get("lm_head.weight"),
        new Shape(config.vocabSize(), config.hiddenSize()), params);
    return new LlamaModel(config, params, embed, blocks, norm, head, ops);
  }

  private static NDArray tensor(NDManager m, Map<String, Weight> weights, String name,
      long... shape) {
    return weights.get(name).toArray(m, new Shape(shape));
  }

  /** The precision the base weights are stored and multiplied in. */
  public Precision precision() {
    return ops.precision();
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

  /**
   * Runs {@code work} on the base model alone, every attached adapter switched off (PEFT's
   * {@code disable_adapter()}): the reference model of a preference objective, with no second
   * copy of the weights. The adapters are switched back on however {@code work} ends.
   */
  public <T> T withoutAdapters(java.util.function.Supplier<T> work) {
    blocks.forEach(b -> b.linears.values().forEach(l -> l.enableAdapter(false)));
    try {
      return work.get();
    } finally {
      blocks.forEach(b -> b.linears.values().forEach(l -> l.enableAdapter(true)));
    }
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
   * What every layer of one micro-batch's forward shares: the rotary cos and sin, how attention
   * is computed ({@link Attention}), and, when the layers' dropout must be drawable again (a
   * layer recomputed in backward), the seed each layer draws from.
   */
  public static final class Pass {
    final NDArray[] rope; // cos, sin: [B, 1, T, D]
    final Attention.Plan attention;
    final IntToLongFunction layerSeeds; // null: draw on from the step's seed

    private Pass(NDArray[] rope, Attention.Plan attention,
        IntToLongFunction layerSeeds) {
      this.rope = rope;
      this.attention = attention;
      this.layerSeeds = layerSeeds;
    }
  }

  /**
   * The shared part of a forward over rows with these {@code positions} ([B, T], in the step's
   * manager) and {@code segments}; attention is blocked ({@code block} queries at a time) for
   * rows longer than {@code block}. {@code layerSeeds} (null: none) gives the seed each layer's
   * dropout draws from.
   */
  public Pass pass(NDArray positions, int[][] segments, int block,
      IntToLongFunction layerSeeds) {
    return new Pass(rotary(positions),
        Attention.plan(segments, block, positions.getManager()), layerSeeds);
  }

  /** The token embeddings of {@code ids} ([B, T], INT64): [B, T, H]. */
  public NDArray embed(NDArray ids) {
    return ops.rows(embed, ids);
  }

  /**
   * Decoder layer {@code layer}: {@code x + attention(norm(x))}, then {@code + mlp(norm(.))}.
   * [B, T, H] -> [B, T, H]; {@code x} is left open (a recomputed layer's input is where its
   * gradient is read).
   */
  public NDArray layer(int layer, NDArray x, Pass pass) {
    if (pass.layerSeeds != null) {
      Engine.getInstance().setRandomSeed((int) pass.layerSeeds.applyAsLong(layer));
    }
    Block block = blocks.get(layer);
    NDArray normed = rmsNorm(x, block.inputNorm);
    NDArray attended = attention(block, normed, pass.attention, pass.rope, null, null, 0);
    normed.close();
    NDArray h = x.add(attended);
    attended.close();
    NDArray mlpIn = rmsNorm(h, block.postNorm);
    NDArray mlpOut = mlp(block, mlpIn);
    mlpIn.close();
    return residual(h, mlpOut);
  }

  /** The final norm: [B, T, H] -> [B, T, H]. */
  public NDArray norm(NDArray x) {
    return rmsNorm(x, finalNorm);
  }

  public int layers() {
    return blocks.size();
  }

  /**
   * Hidden states after the final norm: [B, T, H]. {@code ids}, {@code positions} and {@code
   * segments} are [B, T]; they must live in the step's manager.
   */
  public NDArray hidden(NDArray ids, NDArray positions, NDArray segments) {
    long[] shape = segments.getShape().getShape();
    int[] flat = segments.toType(DataType.INT32, false).toIntArray();
    int[][] rows = new int[(int) shape[0]][];
    for (int b = 0; b < rows.length; b++) {
      rows[b] = java.util.Arrays.copyOfRange(flat, b * (int) shape[1], (b + 1) * (int) shape[1]);
    }
    return hidden(ids, pass(positions, rows, Integer.MAX_VALUE, null));
  }

  /** Hidden states after the final norm, every layer's activations kept for backward. */
  public NDArray hidden(NDArray ids, Pass pass) {
    NDArray x = embed(ids); // [B, T, H]
    for (int layer = 0; layer < blocks.size(); layer++) {
      NDArray next = layer(layer, x, pass);
      x.close();
      x = next;
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
    NDArray x = embed(idArray); // [1, t, H]
    NDArray[] rope = rotary(manager.create(positions, new Shape(1, t)));
    // Query i (absolute position past + i) sees keys 0 .. past + i.
    NDArray key = manager.arange(past + t).expandDims(0); // [1, past + t]
    NDArray query = manager.arange(past, past + t).expandDims(1); // [t, 1]
    NDArray allowed = key.lte(query); // [t, past + t]
    NDArray mask = NDArrays.where(allowed, manager.zeros(allowed.getShape()),
        manager.full(allowed.getShape(), Float.NEGATIVE_INFINITY)).expandDims(0).expandDims(0);
    for (int layer = 0; layer < blocks.size(); layer++) {
      Block block = blocks.get(layer);
      x = x.add(attention(block, rmsNorm(x, block.inputNorm), null, rope, mask, cache, layer));
      x = x.add(mlp(block, rmsNorm(x, block.postNorm)));
    }
    cache.advance(t);
    NDArray last = rmsNorm(x, finalNorm).get(":, -1, :"); // [1, H]
    return head(last).reshape(config.vocabSize());
  }

  /** Logits for every position: [B, T, V]. For tests and generation; training never needs it. */
  public NDArray logits(NDArray ids, NDArray positions, NDArray segments) {
    return head(hidden(ids, positions, segments));
  }

  /** Logits of hidden states [..., H] → [..., V]. */
  public NDArray head(NDArray hidden) {
    return ops.linear(hidden, lmHead, null);
  }

  /** The LM head's rows of {@code ids} ([N]): [N, H], FP32. */
  public NDArray headRows(NDArray ids) {
    return ops.rows(lmHead, ids);
  }

  /** {@code p}·W for the LM head's weight W [V, H]: [N, V] → [N, H], FP32. */
  public NDArray headTransposed(NDArray p) {
    return ops.matmul(p, lmHead);
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
    NDArray shifted = variance.add((float) config.rmsNormEps());
    variance.close();
    NDArray exponent = scalar(x, -0.5f);
    NDArray inverse = shifted.pow(exponent); // [..., 1]
    shifted.close();
    NDArray normed = x.mul(inverse);
    inverse.close();
    NDArray out = normed.mul(weight);
    normed.close();
    return out;
  }

  /**
   * Self-attention of one layer by {@code plan}, or, decoding ({@code cache} not null), over the
   * cached keys and values under {@code cacheMask}.
   */
  private NDArray attention(Block block, NDArray x, Attention.Plan plan, NDArray[] rope,
      NDArray cacheMask, KvCache cache, int layer) {
    long batch = x.getShape().get(0);
    long time = x.getShape().get(1);
    int heads = config.numHeads();
    int kvHeads = config.numKvHeads();
    int d = config.headDim();
    NDArray q = viewAs(block.linears.get("q_proj").forward(x, training), batch, time, heads, d);
    NDArray k = viewAs(block.linears.get("k_proj").forward(x, training), batch, time, kvHeads, d);
    NDArray v = viewAs(block.linears.get("v_proj").forward(x, training), batch, time, kvHeads, d);
    if (block.qNorm != null) { // Qwen3: RMSNorm over each head's vector, before RoPE
      q = replace(q, rmsNorm(q, block.qNorm));
      k = replace(k, rmsNorm(k, block.kNorm));
    }
    q = replace(q, q.transpose(0, 2, 1, 3)); // [B, nh, T, D]
    q = replace(q, applyRope(q, rope));
    k = replace(k, k.transpose(0, 2, 1, 3)); // [B, nkv, T, D]
    k = replace(k, applyRope(k, rope));
    v = replace(v, v.transpose(0, 2, 1, 3)); // [B, nkv, T, D]
    if (cache != null) { // keys and values of earlier tokens, then these: [1, nkv, past + T, D]
      NDArray[] kv = cache.append(layer, k, v); // the cache keeps them: not closed here
      k = kv[0];
      v = kv[1];
    }
    NDArray out = cache != null ? Attention.dense(q, k, v, cacheMask, heads, kvHeads, d)
        : Attention.attend(q, k, v, plan, heads, kvHeads, d); // [B, nh, T, D]
    q.close();
    if (cache == null) {
      k.close();
      v.close();
    }
    out = replace(out, out.transpose(0, 2, 1, 3));
    out = replace(out, out.reshape(batch, time, (long) heads * d)); // [B, T, nh*D]
    NDArray projected = block.linears.get("o_proj").forward(out, training);
    out.close();
    return projected;
  }

  /**
   * {@code next}, closing the handle of {@code previous}: every intermediate's handle is closed
   * once the next one is made, so a forward without autograd (a recomputed layer's first pass)
   * holds one layer's arrays, not all of them, and one with autograd only what backward needs.
   */
  private static NDArray replace(NDArray previous, NDArray next) {
    previous.close();
    return next;
  }

  /** {@code x} reshaped, its own handle closed. */
  private static NDArray viewAs(NDArray x, long... shape) {
    return replace(x, x.reshape(shape));
  }

  private NDArray mlp(Block block, NDArray x) {
    FrozenLinear gateProj = block.linears.get("gate_proj");
    FrozenLinear upProj = block.linears.get("up_proj");
    FrozenLinear downProj = block.linears.get("down_proj");
    if (!gateProj.adapted() && !upProj.adapted() && !downProj.adapted()
        && gateProj.bias == null && upProj.bias == null && downProj.bias == null) {
      NDArray fused = ops.swiGlu(x, gateProj.weight, upProj.weight, downProj.weight);
      if (fused != null) { // half precision: the whole MLP in it (FrozenOps.swiGlu)
        return fused;
      }
    }
    NDArray gate = gateProj.forward(x, training);
    // x·sigmoid(x) with libtorch's sigmoid: 1/(1+exp(-x)) by hand overflows for x < -88, and its
    // gradient becomes 0·inf = NaN.
    NDArray sigmoid = ai.djl.nn.Activation.sigmoid(gate);
    NDArray silu = gate.mul(sigmoid);
    NDArray up = upProj.forward(x, training);
    NDArray product = silu.mul(up);
    NDArray out = downProj.forward(product, training);
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

  @Override
  public void close() {
    ops.close();
    params.close();
  }
}
