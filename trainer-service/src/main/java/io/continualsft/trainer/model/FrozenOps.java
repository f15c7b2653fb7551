package io.continualsft.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.pytorch.jni.JniUtils;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * The products of FP32 activations with the frozen base weights, in the precision the weights
 * are stored in ({@link Precision}). The result is always FP32, and autograd sees through it: a
 * gradient reaches the activations (through the half-precision weights), never the weights.
 *
 * <pre>
 *   linear(x [..., in], w [out, in]) -> [..., out]      matmul(a [..., k], w [k, n]) -> [..., n]
 *   rows(w [V, H], ids [...]) -> [..., H]
 * </pre>
 *
 * <p>Half precision goes through TorchScript because DJL 0.36's native binding maps data types
 * through a switch that has no BFLOAT16 (creating or converting to one aborts the JVM), while a
 * TorchScript method can convert and multiply in any type libtorch has. The few methods needed
 * are written here as TorchScript source in an archive built in memory: no Python, no file. A
 * half-precision array is opaque on the Java side (its data type reads as unknown) and is only
 * ever handed back to these methods.
 */
public abstract sealed class FrozenOps implements AutoCloseable {
  /** The operations of {@code precision}; half precision loads its methods on {@code manager}. */
  public static FrozenOps of(Precision precision, NDManager manager) {
    return precision == Precision.FP32 ? new Fp32(manager) : new Half(precision, manager);
  }

  public abstract Precision precision();

  /**
   * {@code weight} as the model keeps it, of shape {@code shape}, on {@code manager}: FP32 in the
   * buffer it is read into; half precision filled slice by slice from a staging buffer, so no
   * full FP32 copy of a half-precision weight ever exists.
   */
  public abstract NDArray store(Weight weight, Shape shape, NDManager manager);

  /** x·wᵀ + b for a stored {@code w} and an FP32 {@code bias} (null: none). */
  public abstract NDArray linear(NDArray x, NDArray w, NDArray bias);

  /** a·w for a stored {@code w}. */
  public abstract NDArray matmul(NDArray a, NDArray w);

  /** The rows {@code ids} of a stored {@code w}, as FP32 (an embedding lookup). */
  public abstract NDArray rows(NDArray w, NDArray ids);

  /**
   * A frozen SwiGLU MLP in one piece, {@code down(silu(gate(x)) · up(x))}, its intermediates in
   * the weights' precision; null where this precision has no such path (FP32 composes it from
   * {@link #linear}, which it always has).
   *
   * <pre>
   *   x: [..., H]   gate, up: [I, H]   down: [H, I]   -> [..., H]
   * </pre>
   */
  public NDArray swiGlu(NDArray x, NDArray gate, NDArray up, NDArray down) {
    return null;
  }

  @Override
  public void close() {}

  /**
   * FP32: DJL's own operations. The weights are stored as the half-precision ones are, in memory
   * libtorch allocates, filled slice by slice: an array made from a direct buffer keeps that
   * buffer, and the JVM caps direct buffers (by default at the heap's maximum, a quarter of the
   * machine), which a 1.5 B model in FP32 (6 GB) exceeded.
   */
  static final class Fp32 extends FrozenOps {
    private final Half loader;

    Fp32(NDManager manager) {
      this.loader = new Half(Precision.FP32, manager);
    }

    @Override
    public Precision precision() {
      return Precision.FP32;
    }

    @Override
    public NDArray store(Weight weight, Shape shape, NDManager manager) {
      return loader.store(weight, shape, manager);
    }

    @Override
    public void close() {
      loader.close();
    }

    @Override
    public NDArray linear(NDArray x, NDArray w, NDArray bias) {
      return Linear.linear(x, w, bias).singletonOrThrow();
    }

    @Override
    public NDArray matmul(NDArray a, NDArray w) {
      return a.matMul(w);
    }

    @Override
    public NDArray rows(NDArray w, NDArray ids) {
      return Embedding.embedding(ids, w, SparseFormat.DENSE).singletonOrThrow();
    }
  }

  /** BF16 or FP16 through TorchScript methods (and FP32's loading: {@link Fp32}). */
  static final class Half extends FrozenOps {
    /** libtorch's ScalarType codes. */
    private static final int FLOAT16 = 5;
    private static final int FLOAT32 = 6;
    private static final int BFLOAT16 = 15;

    private final Precision precision;
    private final PtSymbolBlock module;
    private final NDArray empty;
    private final NDArray fill;
    private final NDArray linear;
    private final NDArray matmul;
    private final NDArray rows;
    private final NDArray swiGlu;

    Half(Precision precision, NDManager manager) {
      this.precision = precision;
      try {
        this.module = JniUtils.loadModule((PtNDManager) manager,
            new ByteArrayInputStream(archive(switch (precision) {
              case BF16 -> BFLOAT16;
              case FP16 -> FLOAT16;
              case FP32 -> FLOAT32;
            })),
            true, false);
      } catch (IOException e) {
        throw new UncheckedIOException("could not load the half-precision methods", e);
      }
      // IValueUtils picks the method from an array named module_method:NAME, not an input.
      this.empty = method(manager, "empty");
      this.fill = method(manager, "fill");
      this.linear = method(manager, "linear");
      this.matmul = method(manager, "matmul");
      this.rows = method(manager, "rows");
      this.swiGlu = method(manager, "swiglu");
    }

    private static NDArray method(NDManager manager, String name) {
      NDArray marker = manager.create(0f);
      marker.setName("module_method:" + name);
      return marker;
    }

    /**
     * Whether this thread has turned TorchScript's profiling graph executor off. It is on by
     * default and thread-local: it profiles each method's first runs per input shape and keeps
     * specialised plans, work and memory for nothing here (each method is one or a few ops, no
     * fusion to find), and a trainer's micro-batches change shape with every step.
     */
    private static final ThreadLocal<Boolean> PLAIN_EXECUTOR = ThreadLocal.withInitial(() -> {
      JniUtils.setGraphExecutorOptimize(false);
      return true;
    });

    /** Runs {@code method} on {@code inputs} with autograd on; the result is the first input's. */
    private NDArray run(NDArray method, NDArray... inputs) {
      PLAIN_EXECUTOR.get();
      NDList list = new NDList(inputs.length + 1);
      for (NDArray a : inputs) {
        list.add(a);
      }
      list.add(method);
      return IValueUtils.forward(module, list, true).singletonOrThrow();
    }

    @Override
    public Precision precision() {
      return precision;
    }

    /** Where weights are converted from, 4 MiB at a time; allocated once, reused. */
    private java.nio.ByteBuffer staging;

    @Override
    public NDArray store(Weight weight, Shape shape, NDManager manager) {
      // Every call runs with autograd on, so the result is a normal tensor (an inference-mode
      // one could not be saved for backward); nothing here requires a gradient, so no graph.
      if (staging == null) {
        staging = java.nio.ByteBuffer.allocateDirect(4 << 20)
            .order(java.nio.ByteOrder.nativeOrder());
      }
      NDArray stored;
      try (NDArray zero = manager.create(0f); NDArray like = zero.broadcast(shape)) {
        stored = run(empty, like); // uninitialised, filled below
      }
      weight.slices(staging, (slice, from, count) -> {
        try (NDArray values = manager.create(slice, new Shape(count), DataType.FLOAT32);
            NDArray at = manager.create(from);
            NDArray done = run(fill, stored, values, at)) {
          // the values are copied into stored; values is a view of the staging buffer
        }
      });
      return stored;
    }

    @Override
    public NDArray linear(NDArray x, NDArray w, NDArray bias) {
      NDArray y = run(linear, x, w);
      if (bias == null) {
        return y;
      }
      NDArray out = y.add(bias); // the bias stays FP32; an add's backward needs neither input
      y.close();
      return out;
    }

    @Override
    public NDArray matmul(NDArray a, NDArray w) {
      return run(matmul, a, w);
    }

    @Override
    public NDArray rows(NDArray w, NDArray ids) {
      return run(rows, ids, w);
    }

    /**
     * In half precision from the input's cast to the output's, as PyTorch's autocast runs it:
     * the [..., I] intermediates autograd keeps (gate, up, their product) take half the memory
     * and none of them is converted, where three FP32 maps with their own casts would convert
     * each and keep it in FP32. Used only where no adapter wraps the three maps.
     */
    @Override
    public NDArray swiGlu(NDArray x, NDArray gate, NDArray up, NDArray down) {
      return run(swiGlu, x, gate, up, down);
    }

    @Override
    public void close() {
      module.close();
    }

    /**
     * A TorchScript archive (the layout {@code torch.jit.save} writes) of a module with the
     * methods above, for weights of libtorch type {@code dtype}. Activations go in and come out
     * as they are (FP32); each product runs in the weights' type and accumulates in FP32.
     */
    static byte[] archive(int dtype) {
      String code = """
          class HalfOps(Module):
            __parameters__ = []
            __buffers__ = []
            training : bool
            def forward(self: __torch__.HalfOps,
              x: Tensor) -> Tensor:
              return x
            def empty(self: __torch__.HalfOps,
              like: Tensor) -> Tensor:
              return torch.empty(torch.size(like), dtype=%1$d, layout=None, device=ops.prim.device(like))
            def fill(self: __torch__.HalfOps,
              dst: Tensor,
              src: Tensor,
              at: Tensor) -> Tensor:
              dst.view([-1]).narrow(0, int(at.item()), src.numel()).copy_(src.view([-1]))
              return at
            def linear(self: __torch__.HalfOps,
              x: Tensor,
              w: Tensor) -> Tensor:
              _0 = torch.linear(torch.to(x, ops.prim.dtype(w)), w)
              return torch.to(_0, ops.prim.dtype(x))
            def matmul(self: __torch__.HalfOps,
              a: Tensor,
              w: Tensor) -> Tensor:
              _0 = torch.matmul(torch.to(a, ops.prim.dtype(w)), w)
              return torch.to(_0, ops.prim.dtype(a))
            def rows(self: __torch__.HalfOps,
              ids: Tensor,
              w: Tensor) -> Tensor:
              return torch.to(torch.embedding(w, ids), 6)
            def swiglu(self: __torch__.HalfOps,
              x: Tensor,
              gate: Tensor,
              up: Tensor,
              down: Tensor) -> Tensor:
              h = torch.to(x, ops.prim.dtype(gate))
              _0 = torch.mul(torch.silu(torch.linear(h, gate)), torch.linear(h, up))
              return torch.to(torch.linear(_0, down), ops.prim.dtype(x))
          """.formatted(dtype);
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
        // The module object, pickled (protocol 2) as torch.jit.save writes it:
        // __torch__.HalfOps() with its one attribute, training=True.
        entry(zip, "halfops/data.pkl", latin1("\u0080\u0002c__torch__\nHalfOps\nq\u0000)\u0081}"
            + "(X\u0008\u0000\u0000\u0000trainingq\u0001\u0088ubq\u0002."));
        entry(zip, "halfops/code/__torch__.py", code.getBytes(StandardCharsets.UTF_8));
        entry(zip, "halfops/constants.pkl", latin1("\u0080\u0002)."));
        entry(zip, "halfops/version", latin1("3\n"));
        entry(zip, "halfops/byteorder", latin1("little"));
      } catch (IOException e) {
        throw new UncheckedIOException(e); // in memory: cannot happen
      }
      return bytes.toByteArray();
    }

    private static byte[] latin1(String s) {
      return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    /** Stored, not deflated: libtorch's reader wants the records as they are. */
    private static void entry(ZipOutputStream zip, String name, byte[] data) throws IOException {
      ZipEntry e = new ZipEntry(name);
      e.setMethod(ZipEntry.STORED);
      e.setSize(data.length);
      CRC32 crc = new CRC32();
      crc.update(data);
      e.setCrc(crc.getValue());
      zip.putNextEntry(e);
      zip.write(data);
      zip.closeEntry();
    }
  }
}
