package io.continualsft.trainer.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.training.GradientCollector;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.LlamaModel;
import io.continualsft.trainer.model.SftLoss;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.IntToLongFunction;

/**
 * One optimizer step over a step's micro-batches: each micro-batch's summed loss is divided by
 * the step's trained-token count before backward, so the gradients (accumulated across
 * micro-batches) are those of the mean over every trained token of the step, not a mean of
 * per-micro-batch means. Then global-norm clipping and AdamW on the adapter. A step whose loss or
 * gradient norm is not finite is skipped: the adapter is left as it was.
 */
public final class LoraTrainer {
  /** DJL allows one open GradientCollector per JVM: trainers sharing a JVM take turns. */
  private static final Object COLLECTOR = new Object();

  /** Lets a test corrupt gradients before the finiteness check (fault injection). */
  @FunctionalInterface
  public interface GradientHook {
    void apply(long step, Map<String, NDArray> gradients);
  }

  /**
   * What one step did; {@code nonFiniteGradients} names the parameters whose gradient had a NaN
   * or an infinity (empty when the step was applied).
   */
  public record StepResult(long step, boolean applied, double loss, double gradNorm,
      double learningRate, long trainedTokens, double utilisation,
      List<String> nonFiniteGradients) {}

  private final LlamaModel model;
  private final NDManager params;
  private final AdamW optimizer;
  private final LearningRate schedule;
  private final double clipNorm;
  private final long seed;
  private final GradientHook hook;
  private final SftLoss.Forward forward;
  private long step;

  public LoraTrainer(LlamaModel model, NDManager params, AdamW optimizer, LearningRate schedule,
      double clipNorm, long seed, GradientHook hook) {
    this(model, params, optimizer, schedule, clipNorm, seed, hook, SftLoss.Forward.KEEP_ALL);
  }

  /** {@code forward}: blocked attention for long rows, and whether layers are recomputed. */
  public LoraTrainer(LlamaModel model, NDManager params, AdamW optimizer, LearningRate schedule,
      double clipNorm, long seed, GradientHook hook, SftLoss.Forward forward) {
    this.forward = forward;
    this.model = model;
    this.params = params;
    this.optimizer = optimizer;
    this.schedule = schedule;
    this.clipNorm = clipNorm;
    this.seed = seed;
    this.hook = hook;
  }

  public long step() {
    return step;
  }

  public AdamW optimizer() {
    return optimizer;
  }

  /** Restores the step counter (the optimizer's own state is restored separately). */
  public void setStep(long step) {
    this.step = step;
  }

  /**
   * One step of the adapter whose parameters are {@code lora} (PEFT keys to the attached arrays);
   * a step whose loss or gradient norm is not finite is skipped (not applied).
   */
  public StepResult train(TokenBudgetBatcher.Plan plan, Map<String, NDArray> lora) {
    synchronized (COLLECTOR) {
      return trainLocked(plan, lora);
    }
  }

  private StepResult trainLocked(TokenBudgetBatcher.Plan plan, Map<String, NDArray> lora) {
    long next = step + 1;
    long stepTokens = 0;
    for (Batch b : plan.microBatches()) {
      stepTokens += SftLoss.trainedTargets(b);
    }
    if (stepTokens == 0) {
      throw new IllegalArgumentException("a step with no trained token");
    }
    model.setTraining(true);
    Engine.getInstance().setRandomSeed((int) (seed * 1_000_003L + next)); // dropout per step
    double lossSum = 0;
    try (NDManager scope = params.newSubManager()) {
      try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
        int microBatch = 0;
        for (Batch b : plan.microBatches()) {
          try (NDManager microStep = scope.newSubManager()) {
            if (forward.recomputes(b)) {
              lossSum += SftLoss.backwardRecomputed(model, b, microStep, forward,
                  layerSeeds(next, microBatch), gc, stepTokens).sum();
            } else {
              SftLoss.Result r = SftLoss.withGradient(model, b, microStep, forward, null);
              lossSum += r.sum();
              // The divisor as a tensor of this micro-step, alive through backward (see
              // LlamaModel.scalar for why not div(float)).
              gc.backward(r.objective().div(microStep.create((float) stepTokens)));
            }
          }
          microBatch++;
        }
      }
      return applyGradients(next, lora, lossSum / stepTokens, stepTokens, plan.utilisation());
    }
  }

  /**
   * Clips and applies the gradients the step's backward passes left on {@code lora}, or skips the
   * step when the loss or the gradient norm is not finite; the gradients are zeroed either way.
   */
  private StepResult applyGradients(long next, Map<String, NDArray> lora, double loss,
      long stepTokens, double utilisation) {
    Map<String, NDArray> grads = new LinkedHashMap<>();
    lora.forEach((name, p) -> grads.put(name, p.getGradient()));
    try {
      if (hook != null) {
        hook.apply(next, grads);
      }
      double sumSquares = 0;
      List<String> nonFinite = new ArrayList<>();
      for (Map.Entry<String, NDArray> g : grads.entrySet()) {
        try (NDArray squares = g.getValue().pow(2); NDArray sum = squares.sum()) { // not left in g's manager
          float part = sum.getFloat();
          sumSquares += part;
          if (!Float.isFinite(part)) {
            nonFinite.add(g.getKey());
          }
        }
      }
      double norm = Math.sqrt(sumSquares);
      double lr = schedule.at(next);
      step = next;
      if (!Double.isFinite(norm) || !Double.isFinite(loss)) {
        return new StepResult(next, false, loss, norm, lr, stepTokens, utilisation, nonFinite);
      }
      if (clipNorm > 0 && norm > clipNorm) {
        float coefficient = (float) (clipNorm / (norm + 1e-6));
        grads.values().forEach(g -> g.muli(coefficient));
      }
      optimizer.step(lora, grads, lr);
      return new StepResult(next, true, loss, norm, lr, stepTokens, utilisation, List.of());
    } finally {
      grads.values().forEach(g -> {
        // Zero in place, NaN included (NaN * 0 would stay NaN). The zero is a tensor closed
        // here: set(index, 0f) would leave its own scalar in the parameter's manager.
        try (NDArray zero = g.getManager().create(0f)) {
          g.set(new NDIndex(":"), zero);
        }
        g.close();
      });
      model.setTraining(false);
    }
  }

  /** One KTO step's result and what it measured before the update. */
  public record KtoStep(StepResult result, Kto.Scores scores) {}

  /**
   * One optimizer step of the KTO objective ({@link Kto}) over {@code examples}, the whole batch
   * (the KL estimate pairs each prompt with another example's completion, so at least two):
   * the reference and the mismatched pairs are scored without gradient and without dropout, the
   * reference with the adapter switched off; then the policy's forward and backward run per
   * micro-batch, each example's gradient weighted by its KTO coefficient, known once that
   * micro-batch's forward has its log-probabilities ({@link SftLoss.ExampleWeights}).
   */
  public KtoStep trainKto(List<Kto.Example> examples, Kto.Settings kto,
      TokenBudgetBatcher batcher, Map<String, NDArray> lora) {
    synchronized (COLLECTOR) {
      return trainKtoLocked(examples, kto, batcher, lora);
    }
  }

  private KtoStep trainKtoLocked(List<Kto.Example> examples, Kto.Settings kto,
      TokenBudgetBatcher batcher, Map<String, NDArray> lora) {
    int n = examples.size();
    if (n < 2) {
      throw new IllegalArgumentException("a KTO step needs at least two examples (its KL"
          + " estimate pairs each prompt with another example's completion), got " + n);
    }
    long next = step + 1;
    List<Batch.Example> matched = examples.stream().map(Kto.Example::sequence).toList();
    List<Batch.Example> mismatched = Kto.mismatched(examples);
    model.setTraining(false);
    double[] reference = model.withoutAdapters(() -> logps(matched, batcher));
    double[] referenceMismatched = model.withoutAdapters(() -> logps(mismatched, batcher));
    double kl = Kto.kl(logps(mismatched, batcher), referenceMismatched);

    Map<Batch.Example, Integer> index = positions(matched);
    double[] policy = new double[n];
    TokenBudgetBatcher.Plan plan = batcher.plan(matched);
    long tokens = 0;
    for (Batch b : plan.microBatches()) {
      tokens += SftLoss.trainedTargets(b);
    }
    model.setTraining(true);
    Engine.getInstance().setRandomSeed((int) (seed * 1_000_003L + next)); // dropout per step
    try (NDManager scope = params.newSubManager()) {
      try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
        for (int m = 0; m < plan.microBatches().size(); m++) {
          Batch b = plan.microBatches().get(m);
          List<Batch.Example> inBatch = plan.examples().get(m);
          SftLoss.ExampleWeights weights = (exampleLoss, exampleTokens) -> {
            float[] w = new float[exampleLoss.length];
            for (int j = 0; j < w.length; j++) {
              int i = index.get(inBatch.get(j));
              policy[i] = -exampleLoss[j];
              // d loss / d nll_i = −d loss / d log π_i, averaged over the batch.
              w[j] = (float) (-Kto.gradient(kto, examples.get(i).desirable(),
                  policy[i] - reference[i], kl) / n);
            }
            return w;
          };
          try (NDManager microStep = scope.newSubManager()) {
            if (forward.recomputes(b)) {
              SftLoss.backwardRecomputed(model, b, microStep, forward, layerSeeds(next, m), gc,
                  1f, weights);
            } else {
              gc.backward(SftLoss.withGradient(model, b, microStep, forward, null, weights)
                  .objective());
            }
          }
        }
      }
      Kto.Scores scores = scores(examples, kto, policy, reference, kl);
      return new KtoStep(applyGradients(next, lora, scores.loss(), tokens, plan.utilisation()),
          scores);
    }
  }

  /** The KTO loss and rewards of {@code examples} (no gradient), in eval mode. */
  public Kto.Scores scoreKto(List<Kto.Example> examples, Kto.Settings kto,
      TokenBudgetBatcher batcher) {
    List<Batch.Example> matched = examples.stream().map(Kto.Example::sequence).toList();
    model.setTraining(false);
    double[] reference = model.withoutAdapters(() -> logps(matched, batcher));
    double kl = 0;
    if (examples.size() > 1) {
      List<Batch.Example> mismatched = Kto.mismatched(examples);
      double[] referenceMismatched = model.withoutAdapters(() -> logps(mismatched, batcher));
      kl = Kto.kl(logps(mismatched, batcher), referenceMismatched);
    }
    return scores(examples, kto, logps(matched, batcher), reference, kl);
  }

  private static Kto.Scores scores(List<Kto.Example> examples, Kto.Settings kto,
      double[] policy, double[] reference, double kl) {
    double loss = 0;
    boolean[] desirable = new boolean[examples.size()];
    for (int i = 0; i < desirable.length; i++) {
      desirable[i] = examples.get(i).desirable();
      loss += Kto.loss(kto, desirable[i], policy[i] - reference[i], kl);
    }
    return new Kto.Scores(loss / desirable.length, kl, policy, reference, desirable, kto.beta());
  }

  /**
   * Each example's position in {@code examples}, by identity: the batcher reorders examples, and
   * {@link TokenBudgetBatcher.Plan#examples()} hands back the same instances.
   */
  private static Map<Batch.Example, Integer> positions(List<Batch.Example> examples) {
    Map<Batch.Example, Integer> index = new java.util.IdentityHashMap<>();
    for (int i = 0; i < examples.size(); i++) {
      index.put(examples.get(i), i);
    }
    return index;
  }

  /** log π of each example's scored tokens (summed), with the model as it is now, no gradient. */
  private double[] logps(List<Batch.Example> examples, TokenBudgetBatcher batcher) {
    Map<Batch.Example, Integer> index = positions(examples);
    double[] out = new double[examples.size()];
    TokenBudgetBatcher.Plan plan = batcher.plan(examples);
    for (int m = 0; m < plan.microBatches().size(); m++) {
      try (NDManager scope = params.newSubManager()) {
        SftLoss.Result r = SftLoss.compute(model, plan.microBatches().get(m), scope, forward);
        List<Batch.Example> inBatch = plan.examples().get(m);
        for (int j = 0; j < inBatch.size(); j++) {
          out[index.get(inBatch.get(j))] = -r.exampleLoss()[j];
        }
      }
    }
    return out;
  }

  /**
   * The seed each layer of micro-batch {@code microBatch} of step {@code step} draws its
   * dropout from, when layers are recomputed: the recomputation must draw what the forward
   * drew, and a function of the step, the micro-batch and the layer repeats after a restart.
   */
  private IntToLongFunction layerSeeds(long step, int microBatch) {
    return layer -> new SplittableRandom(seed * 0x9E3779B97F4A7C15L
        + step * 1_000_003L + microBatch * 7_919L + layer).nextInt();
  }

  /** Mean loss over the trained tokens of {@code examples} (no gradient), in eval mode. */
  public double evalLoss(List<Batch.Example> examples, TokenBudgetBatcher batcher) {
    if (examples.isEmpty()) {
      return Double.NaN;
    }
    double sum = 0;
    long tokens = 0;
    model.setTraining(false);
    for (Batch b : batcher.plan(examples).microBatches()) {
      try (NDManager m = params.newSubManager()) {
        SftLoss.Result r = SftLoss.compute(model, b, m, forward);
        sum += r.sum();
        tokens += r.tokens();
      }
    }
    return sum / tokens;
  }
}
