package io.continualsft.trainer.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import io.continualsft.trainer.model.FrozenLinear;
import io.continualsft.trainer.model.LlamaModel;
import java.nio.FloatBuffer;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A LoRA adapter attached to a frozen base model, as PEFT's {@code LoraModel} wraps one: every
 * targeted linear map of every layer gets {@code y + scaling·(dropout(x)·Aᵀ)·Bᵀ}, with A [r, in]
 * and B [out, r] the only parameters that require gradients. Parameters are keyed by their PEFT
 * key ({@link PeftKeys}), in layer and module order, which is the order of every map this class
 * returns. One adapter is attached to a model at a time; {@link #detach()} frees it.
 */
public final class LoraModel implements AutoCloseable {
  private final LlamaModel base;
  private final LoraSettings settings;
  private final NDManager manager;
  private final Map<String, NDArray> parameters; // by PEFT key: A then B of each module

  private LoraModel(LlamaModel base, LoraSettings settings, NDManager manager,
      Map<String, NDArray> parameters) {
    this.base = base;
    this.settings = settings;
    this.manager = manager;
    this.parameters = Collections.unmodifiableMap(parameters);
  }

  /**
   * A fresh adapter as PEFT initialises one: A kaiming-uniform(a=√5), i.e. U(-1/√in, 1/√in),
   * drawn from {@code seed} per parameter key, and B = 0, so the model's output is unchanged.
   */
  public static LoraModel attachFresh(LlamaModel base, LoraSettings settings, long seed) {
    Map<String, float[]> values = new LinkedHashMap<>();
    for (int layer = 0; layer < base.config().numLayers(); layer++) {
      for (String module : settings.targetModules()) {
        FrozenLinear linear = base.linear(layer, module);
        int in = Math.toIntExact(linear.inFeatures());
        String aKey = PeftKeys.toKey(new PeftKeys.LoraParam(layer, module, 'A'));
        SplittableRandom random = new SplittableRandom(seed ^ aKey.hashCode() * 0x9E3779B97F4A7C15L);
        float bound = (float) (1.0 / Math.sqrt(in));
        float[] a = new float[settings.r() * in];
        for (int k = 0; k < a.length; k++) {
          a[k] = (float) (random.nextDouble() * 2 - 1) * bound;
        }
        values.put(aKey, a);
        values.put(PeftKeys.toKey(new PeftKeys.LoraParam(layer, module, 'B')),
            new float[Math.toIntExact(linear.outFeatures()) * settings.r()]);
      }
    }
    return attach(base, settings, values);
  }

  /**
   * Attaches an adapter with {@code values} (PEFT keys to values; every targeted A and B must be
   * there with its shape), replacing whatever the targeted maps carried.
   */
  public static LoraModel attach(LlamaModel base, LoraSettings settings,
      Map<String, float[]> values) {
    NDManager manager = base.newParameterManager();
    try {
      Map<String, NDArray> parameters = new LinkedHashMap<>();
      for (int layer = 0; layer < base.config().numLayers(); layer++) {
        for (String module : settings.targetModules()) {
          FrozenLinear linear = base.linear(layer, module);
          long in = linear.inFeatures();
          long out = linear.outFeatures();
          String aKey = PeftKeys.toKey(new PeftKeys.LoraParam(layer, module, 'A'));
          String bKey = PeftKeys.toKey(new PeftKeys.LoraParam(layer, module, 'B'));
          float[] a = values.get(aKey);
          float[] b = values.get(bKey);
          if (a == null || b == null) {
            throw new IllegalArgumentException("adapter lacks " + (a == null ? aKey : bKey));
          }
          if (a.length != settings.r() * in || b.length != out * settings.r()) {
            throw new IllegalArgumentException("adapter shapes for layer " + layer + " " + module
                + ": expected A [" + settings.r() + ", " + in + "] and B [" + out + ", "
                + settings.r() + "], got " + a.length + " and " + b.length + " values");
          }
          NDArray loraA = manager.create(a, new Shape(settings.r(), in));
          NDArray loraB = manager.create(b, new Shape(out, settings.r()));
          loraA.setRequiresGradient(true);
          loraB.setRequiresGradient(true);
          parameters.put(aKey, loraA);
          parameters.put(bKey, loraB);
          linear.attach(new Layer(loraA, loraB, (float) settings.scaling(),
              (float) settings.dropout()));
        }
      }
      return new LoraModel(base, settings, manager, parameters);
    } catch (RuntimeException e) {
      detachAll(base, settings);
      manager.close();
      throw e;
    }
  }

  public LoraSettings settings() {
    return settings;
  }

  /** The trainable parameters by PEFT key (the arrays themselves, which autograd updates). */
  public Map<String, NDArray> parameters() {
    return parameters;
  }

  /** The parameters' values, copied off the device. */
  public Map<String, float[]> weights() {
    Map<String, float[]> out = new LinkedHashMap<>();
    parameters.forEach((key, p) -> out.put(key, p.toFloatArray()));
    return out;
  }

  /** Overwrites the parameters with {@code values} (the same keys and sizes), bit for bit. */
  public void load(Map<String, float[]> values) {
    if (!values.keySet().equals(parameters.keySet())) {
      throw new IllegalArgumentException("the adapter to load has other parameters than the one"
          + " attached: " + values.keySet() + " vs " + parameters.keySet());
    }
    parameters.forEach((key, p) -> {
      float[] v = values.get(key);
      if (v.length != p.size()) {
        throw new IllegalArgumentException(key + ": " + v.length + " values for "
            + p.getShape());
      }
      p.set(FloatBuffer.wrap(v));
    });
  }

  /** These A matrices with every B zero: an adapter that changes nothing (the base model). */
  public Map<String, float[]> asBaseModel() {
    Map<String, float[]> out = new LinkedHashMap<>();
    parameters.forEach((key, p) -> out.put(key, PeftKeys.fromKey(key).matrix() == 'B'
        ? new float[Math.toIntExact(p.size())] : p.toFloatArray()));
    return out;
  }

  /**
   * The adapter as PEFT files hold it, values copied off the device. Fails when a value is not
   * finite: such an adapter must never be published.
   */
  public PeftAdapter toPeft(String baseModelName) {
    PeftAdapter adapter = PeftAdapter.of(settings, baseModelName, parameters);
    adapter.weights().forEach((name, values) -> {
      for (float v : values) {
        if (!Float.isFinite(v)) {
          throw new IllegalStateException("the adapter has a non-finite value in " + name
              + "; refusing to publish it");
        }
      }
    });
    return adapter;
  }

  /** The base model's maps are frozen maps alone again, and the adapter's arrays are freed. */
  public void detach() {
    detachAll(base, settings);
    manager.close();
  }

  @Override
  public void close() {
    detach();
  }

  private static void detachAll(LlamaModel base, LoraSettings settings) {
    for (int layer = 0; layer < base.config().numLayers(); layer++) {
      for (String module : settings.targetModules()) {
        base.linear(layer, module).attach(null);
      }
    }
  }

  /** One module's adapter: {@code scaling·(dropout(x)·Aᵀ)·Bᵀ}. */
  private record Layer(NDArray a, NDArray b, float scaling, float dropout)
      implements FrozenLinear.Adapter {
    @Override
    public NDArray delta(NDArray x, boolean training) { // [..., in] -> [..., out]
      // As PEFT: dropout on the adapter's input only, and only while training.
      NDArray in = training && dropout > 0
          ? Dropout.dropout(x, dropout, true).singletonOrThrow() : x;
      NDArray down = Linear.linear(in, a, null).singletonOrThrow(); // [..., r]
      NDArray up = Linear.linear(down, b, null).singletonOrThrow(); // [..., out]
      NDArray scaled = up.mul(LlamaModel.scalar(up, scaling));
      up.close(); // autograd keeps down and the dropout mask, which backward needs
      return scaled;
    }
  }
}
