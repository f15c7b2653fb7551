package io.continualsft.trainer.train;

import ai.djl.ndarray.NDManager;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.lora.AdapterState;
import io.continualsft.trainer.lora.LoraModel;
import io.continualsft.trainer.lora.LoraSettings;
import io.continualsft.trainer.lora.PeftAdapter;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.LlamaModel;
import io.continualsft.trainer.model.ModelConfig;
import io.continualsft.trainer.model.ModelLoader;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * One adapter being trained on a frozen base model: the model with the adapter attached, the
 * optimizer, the step counter and the batcher, behind the few operations the service needs:
 * take a step, score examples, and swap the adapter's state ({@link AdapterState}) in and out.
 */
public final class AdapterTraining implements AutoCloseable {
  private final NDManager params;
  private final LlamaModel model;
  private final LoraTrainer trainer;
  private final TokenBudgetBatcher batcher;
  private final TrainingPlan plan;
  private LoraModel lora;

  public AdapterTraining(NDManager params, LlamaModel model, LoraModel lora, LoraTrainer trainer,
      TokenBudgetBatcher batcher, TrainingPlan plan) {
    this.plan = plan;
    this.params = params;
    this.model = model;
    this.lora = lora;
    this.trainer = trainer;
    this.batcher = batcher;
  }

  /**
   * Loads the base model of {@code settings} onto {@code params} (which this object then owns)
   * and attaches a fresh adapter.
   */
  public static AdapterTraining open(TrainerSettings settings, NDManager params) {
    try {
      Path dir = settings.model().dir();
      TrainingPlan plan = TrainingPlan.of(settings.steps(),
          ModelConfig.read(dir.resolve("config.json")), params.getDevice());
      LlamaModel model = ModelLoader.load(dir, params.newSubManager(),
          plan.precision().precision());
      LoraModel lora = LoraModel.attachFresh(model, settings.lora(), settings.seed());
      TrainerSettings.Optimizer o = settings.optimizer();
      AdamW adamW = new AdamW(params.newSubManager(), o.beta1(), o.beta2(), o.eps(),
          o.weightDecay());
      List<Long> inject = settings.nonFiniteSteps();
      LoraTrainer trainer = new LoraTrainer(model, params, adamW, LearningRate.of(o),
          o.clipNorm(), settings.seed(), inject.isEmpty() ? null : (step, grads) -> {
            if (inject.contains(step)) {
              grads.values().forEach(g -> g.muli(Float.NaN));
            }
          }, plan.forward());
      TrainerSettings.Steps s = settings.steps();
      return new AdapterTraining(params, model, lora, trainer,
          new TokenBudgetBatcher(plan.tokenBudget(), s.maxLength(), s.pack(), 0), plan);
    } catch (RuntimeException e) {
      params.close();
      throw e;
    }
  }

  /** How this trainer computes: precision, recomputation, attention blocks, and why. */
  public TrainingPlan plan() {
    return plan;
  }

  /** One optimizer step over {@code examples}, split into micro-batches by the batcher. */
  public LoraTrainer.StepResult step(List<Batch.Example> examples) {
    return trainer.train(batcher.plan(examples), lora.parameters());
  }

  /**
   * One optimizer step of {@code objective} over {@code examples}: rated ones ({@link
   * Kto.Example#rated()}) for KTO.
   */
  public LoraTrainer.StepResult step(List<Batch.Example> examples, Objective objective) {
    return switch (objective) {
      case Objective.Sft sft -> step(examples);
      case Objective.Preference p -> stepKto(examples.stream().map(Kto.Example::of).toList(),
          p.kto()).result();
    };
  }

  /**
   * How an adapter scores on held-out examples: the objective's loss, and for KTO the reward
   * accuracy ({@link Kto.Scores#rewardAccuracy()}; NaN for SFT). Both NaN with no examples.
   */
  public record Evaluation(double loss, double rewardAccuracy) {
    public static final Evaluation NONE = new Evaluation(Double.NaN, Double.NaN);
  }

  /**
   * {@code examples} scored by {@code objective} with the adapter as it is now: those of its
   * kind only, rated ones for KTO and supervised ones for SFT (an adapter that changed objective
   * keeps the other kind in its eval set until newer held-out examples displace them).
   */
  public Evaluation evaluate(List<Batch.Example> examples, Objective objective) {
    boolean rated = objective instanceof Objective.Preference;
    List<Batch.Example> scored = examples.stream()
        .filter(e -> (e.rating() != Batch.Rating.NONE) == rated).toList();
    if (scored.isEmpty()) {
      return Evaluation.NONE;
    }
    return switch (objective) {
      case Objective.Sft sft -> new Evaluation(evalLoss(scored), Double.NaN);
      case Objective.Preference p -> {
        Kto.Scores scores = scoreKto(scored.stream().map(Kto.Example::of).toList(), p.kto());
        yield new Evaluation(scores.loss(), scores.rewardAccuracy());
      }
    };
  }

  /**
   * As {@link #evaluate}, with {@code weights} in place of the adapter being trained, which is
   * put back exactly afterwards (see {@link #evalLossWith}).
   */
  public Evaluation evaluateWith(Map<String, float[]> weights, List<Batch.Example> examples,
      Objective objective) {
    if (examples.isEmpty()) {
      return Evaluation.NONE;
    }
    Map<String, float[]> trained = lora.weights();
    lora.load(weights);
    try {
      return evaluate(examples, objective);
    } finally {
      lora.load(trained); // the same floats back, bit for bit
    }
  }

  /** One optimizer step of the KTO objective over {@code examples} (at least two). */
  public LoraTrainer.KtoStep stepKto(List<Kto.Example> examples, Kto.Settings kto) {
    return trainer.trainKto(examples, kto, batcher, lora.parameters());
  }

  /** The KTO loss and implied rewards of {@code examples} with the adapter as it is now. */
  public Kto.Scores scoreKto(List<Kto.Example> examples, Kto.Settings kto) {
    return trainer.scoreKto(examples, kto, batcher);
  }

  /** Mean loss over the trained tokens of {@code examples}; NaN when there are none. */
  public double evalLoss(List<Batch.Example> examples) {
    return trainer.evalLoss(examples, batcher);
  }

  /**
   * Mean loss of {@code examples} with {@code weights} (PEFT keys to values, the same LoRA
   * settings) in place of the adapter being trained, which is put back exactly afterwards: for
   * scoring the released adapter, or the base model ({@link #baseModelWeights()}), on the same
   * examples.
   */
  public double evalLossWith(Map<String, float[]> weights, List<Batch.Example> examples) {
    if (examples.isEmpty()) {
      return Double.NaN;
    }
    Map<String, float[]> trained = lora.weights();
    lora.load(weights);
    try {
      return evalLoss(examples);
    } finally {
      lora.load(trained); // the same floats back, bit for bit
    }
  }

  /** The base model as an adapter: the trained A matrices, every B zero (no update at all). */
  public Map<String, float[]> baseModelWeights() {
    return lora.asBaseModel();
  }

  public long step() {
    return trainer.step();
  }

  public long optimizerSteps() {
    return trainer.optimizer().steps();
  }

  /** The optimizer's moments by torch's names ({@code <param>.exp_avg}, {@code .exp_avg_sq}). */
  public Map<String, float[]> moments() {
    return trainer.optimizer().state();
  }

  public int vocabSize() {
    return model.config().vocabSize();
  }

  /**
   * The adapter as PEFT files will hold it, values copied off the device. Fails when a value is
   * not finite: such an adapter must never be published.
   */
  public PeftAdapter adapter(String baseModelName) {
    return lora.toPeft(baseModelName);
  }

  /** The adapter now in the model, with its moments and counters, copied off the device. */
  public AdapterState state() {
    return new AdapterState(lora.settings(), lora.weights(), trainer.optimizer().state(),
        trainer.step(), trainer.optimizer().steps());
  }

  /** Puts {@code state}'s adapter into the model, replacing the one there. */
  public void load(AdapterState state) {
    lora.detach();
    lora = LoraModel.attach(model, state.settings(), state.weights());
    if (state.optimizerSteps() == 0 && state.moments().isEmpty()) {
      trainer.optimizer().reset();
    } else {
      trainer.optimizer().restore(state.moments(), lora.parameters(), state.optimizerSteps());
    }
    trainer.setStep(state.step());
  }

  /**
   * A fresh adapter with {@code settings} in the model (A from {@code seed}, B zero, no moments,
   * step 0), replacing the one there.
   */
  public void fresh(LoraSettings settings, long seed) {
    lora.detach();
    lora = LoraModel.attachFresh(model, settings, seed);
    trainer.optimizer().reset();
    trainer.setStep(0);
  }

  /** The model, for callers that look inside (tests, generation with the trained adapter). */
  public LlamaModel model() {
    return model;
  }

  /** The adapter attached to {@link #model()} now. */
  public LoraModel lora() {
    return lora;
  }

  @Override
  public void close() {
    lora.detach();
    model.close();
    params.close();
  }
}
