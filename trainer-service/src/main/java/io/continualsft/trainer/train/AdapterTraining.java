package io.continualsft.trainer.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.lora.LoraSettings;
import io.continualsft.trainer.lora.PeftAdapter;
import io.continualsft.trainer.lora.PeftKeys;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.LlamaModel;
import io.continualsft.trainer.model.ModelLoader;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * One adapter being trained on a frozen base model: the model with its LoRA parameters, the
 * optimizer, the step counter and the batcher, behind the few operations the service needs:
 * take a step, score examples, snapshot the adapter for a checkpoint and restore one.
 */
public final class AdapterTraining implements AutoCloseable {
  private final NDManager params;
  private final LlamaModel model;
  private final LoraTrainer trainer;
  private final TokenBudgetBatcher batcher;

  public AdapterTraining(NDManager params, LlamaModel model, LoraTrainer trainer,
      TokenBudgetBatcher batcher) {
    this.params = params;
    this.model = model;
    this.trainer = trainer;
    this.batcher = batcher;
  }

  /**
   * Loads the base model of {@code settings} onto {@code params} (which this object then owns)
   * and adds a fresh adapter.
   */
  public static AdapterTraining open(TrainerSettings settings, NDManager params) {
    try {
      Path dir = settings.model().dir();
      LlamaModel model = ModelLoader.load(dir, params.newSubManager());
      model.addLora(settings.lora(), settings.seed());
      TrainerSettings.Optimizer o = settings.optimizer();
      AdamW adamW = new AdamW(params.newSubManager(), o.beta1(), o.beta2(), o.eps(),
          o.weightDecay());
      List<Long> inject = settings.nonFiniteSteps();
      LoraTrainer trainer = new LoraTrainer(model, params, adamW, o.schedule(), o.clipNorm(),
          settings.seed(), inject.isEmpty() ? null : (step, grads) -> {
            if (inject.contains(step)) {
              grads.values().forEach(g -> g.muli(Float.NaN));
            }
          });
      TrainerSettings.Steps s = settings.steps();
      return new AdapterTraining(params, model, trainer,
          new TokenBudgetBatcher(s.tokenBudget(), s.maxLength(), s.pack(), 0));
    } catch (RuntimeException e) {
      params.close();
      throw e;
    }
  }

  /** One optimizer step over {@code examples}, split into micro-batches by the batcher. */
  public LoraTrainer.StepResult step(List<Batch.Example> examples) {
    return trainer.train(batcher.plan(examples));
  }

  /** Mean loss over the trained tokens of {@code examples}; NaN when there are none. */
  public double evalLoss(List<Batch.Example> examples) {
    return trainer.evalLoss(examples, batcher);
  }

  /**
   * Mean loss of {@code examples} with {@code weights} (PEFT keys to values, the same LoRA
   * settings) in place of the adapter being trained, which is put back exactly afterwards: for
   * scoring the released adapter, or the base model (every B zero), on the same examples.
   */
  public double evalLossWith(Map<String, float[]> weights, List<Batch.Example> examples) {
    if (examples.isEmpty()) {
      return Double.NaN;
    }
    Map<String, NDArray> lora = model.loraParameters();
    if (!weights.keySet().equals(lora.keySet())) {
      throw new IllegalArgumentException("the adapter to score has other parameters than the one"
          + " trained: " + weights.keySet() + " vs " + lora.keySet());
    }
    Map<String, float[]> trained = new java.util.LinkedHashMap<>();
    lora.forEach((name, p) -> trained.put(name, p.toFloatArray()));
    try {
      copyInto(lora, weights);
      return evalLoss(examples);
    } finally {
      copyInto(lora, trained); // the same floats back, bit for bit
    }
  }

  /** The base model as an adapter: the trained A matrices, every B zero (no update at all). */
  public Map<String, float[]> baseWeights() {
    Map<String, float[]> out = new java.util.LinkedHashMap<>();
    model.loraParameters().forEach((name, p) -> out.put(name,
        PeftKeys.fromKey(name).matrix() == 'B' ? new float[Math.toIntExact(p.size())]
            : p.toFloatArray()));
    return out;
  }

  private static void copyInto(Map<String, NDArray> params, Map<String, float[]> values) {
    params.forEach((name, p) -> {
      float[] v = values.get(name);
      if (v.length != p.size()) {
        throw new IllegalArgumentException(name + ": " + v.length + " values for "
            + p.getShape());
      }
      p.set(java.nio.FloatBuffer.wrap(v));
    });
  }

  public long step() {
    return trainer.step();
  }

  public long optimizerSteps() {
    return trainer.optimizer().steps();
  }

  public int vocabSize() {
    return model.config().vocabSize();
  }

  public LoraSettings lora() {
    return model.lora();
  }

  /**
   * The adapter as PEFT files will hold it, values copied off the device. Fails when a value is
   * not finite: such an adapter must never be published.
   */
  public PeftAdapter adapter(String baseModelName) {
    Map<String, NDArray> lora = model.loraParameters();
    PeftAdapter adapter = PeftAdapter.of(model.lora(), baseModelName, lora);
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

  /** The optimizer's moments by torch's names ({@code <param>.exp_avg}, {@code .exp_avg_sq}). */
  public Map<String, float[]> moments() {
    return trainer.optimizer().state();
  }

  /**
   * Everything that is one adapter's on the shared base: weights, optimizer moments, the step
   * counter (which seeds each step's dropout) and the optimizer's own step count. Swapping
   * snapshots in and out is how one model trains many adapters; the copies are exact, so an
   * adapter swapped out and back continues bit for bit.
   */
  public record Snapshot(LoraSettings lora, Map<String, float[]> weights,
      Map<String, float[]> moments, long step, long optimizerSteps) {
    /** Bytes held: weights and moments, 4 bytes a value. */
    public long bytes() {
      long values = 0;
      for (float[] w : weights.values()) {
        values += w.length;
      }
      for (float[] m : moments.values()) {
        values += m.length;
      }
      return 4 * values;
    }
  }

  /** The adapter now in the model, copied off the device. */
  public Snapshot snapshot() {
    Map<String, float[]> weights = new java.util.LinkedHashMap<>();
    model.loraParameters().forEach((name, p) -> weights.put(name, p.toFloatArray()));
    return new Snapshot(model.lora(), weights, trainer.optimizer().state(), trainer.step(),
        trainer.optimizer().steps());
  }

  /** Puts {@code snapshot}'s adapter into the model, replacing the one there. */
  public void load(Snapshot snapshot) {
    model.setLora(snapshot.lora(), snapshot.weights());
    if (snapshot.optimizerSteps() == 0 && snapshot.moments().isEmpty()) {
      trainer.optimizer().reset();
    } else {
      trainer.optimizer().restore(snapshot.moments(), model.loraParameters(),
          snapshot.optimizerSteps());
    }
    trainer.setStep(snapshot.step());
  }

  /**
   * A fresh adapter with {@code lora} settings in the model (A from {@code seed}, B zero, no
   * moments, step 0), replacing the one there.
   */
  public void fresh(LoraSettings lora, long seed) {
    model.addLora(lora, seed);
    trainer.optimizer().reset();
    trainer.setStep(0);
  }

  /** Puts a checkpoint's adapter, moments and counters back. */
  public void restore(PeftAdapter adapter, Map<String, float[]> moments, long step,
      long optimizerSteps) {
    model.setLora(adapter.settings(), adapter.weights());
    trainer.optimizer().restore(moments, model.loraParameters(), optimizerSteps);
    trainer.setStep(step);
  }

  /** The model, for callers that look inside (tests, generation with the trained adapter). */
  public LlamaModel model() {
    return model;
  }

  @Override
  public void close() {
    model.close();
    params.close();
  }
}
