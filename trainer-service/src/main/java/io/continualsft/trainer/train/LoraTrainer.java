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
        double loss = lossSum / stepTokens;
        double lr = schedule.at(next);
        step = next;
        if (!Double.isFinite(norm) || !Double.isFinite(loss)) {
          return new StepResult(next, false, loss, norm, lr, stepTokens, plan.utilisation(),
              nonFinite);
        }
        if (clipNorm > 0 && norm > clipNorm) {
          float coefficient = (float) (clipNorm / (norm + 1e-6));
          grads.values().forEach(g -> g.muli(coefficient));
        }
        optimizer.step(lora, grads, lr);
        return new StepResult(next, true, loss, norm, lr, stepTokens, plan.utilisation(),
            List.of());
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
