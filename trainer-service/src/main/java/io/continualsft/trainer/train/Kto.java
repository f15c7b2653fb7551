package io.continualsft.trainer.train;

import io.continualsft.chat.labels.LabelContract;
import io.continualsft.trainer.model.Batch;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Kahneman-Tversky Optimization (Ethayarajh et al., "KTO: Model Alignment as Prospect Theoretic
 * Optimization", 2024) as TRL's {@code KTOTrainer} computes it (loss type {@code kto}), for
 * unpaired feedback: each example is a prompt, a completion and whether it was desirable.
 *
 * <pre>
 *   logratio_i = log π(y_i|x_i) − log π_ref(y_i|x_i)      (sums over the completion's tokens)
 *   z_0        = max(0, mean_j [log π(y'_j|x_j) − log π_ref(y'_j|x_j)])   (no gradient)
 *   loss_i     = λ_D · (1 − σ(β · (logratio_i − z_0)))   desirable
 *              = λ_U · (1 − σ(β · (z_0 − logratio_i)))   undesirable
 *   loss       = mean_i loss_i
 * </pre>
 *
 * where y'_j is a mismatched completion, prompt j with the completion of example j−1 (cyclic),
 * exactly as TRL pairs them within a batch, and the reference π_ref is the base model with the
 * adapter switched off (TRL's reference for a fresh PEFT adapter, with no second copy of the
 * weights). The implied reward of an example is {@code β · logratio_i}.
 */
public final class Kto {
  private Kto() {}

  /**
   * @param beta β, how far from the reference the policy may move (TRL's default 0.1)
   * @param desirableWeight λ_D (TRL's default 1.0)
   * @param undesirableWeight λ_U (TRL's default 1.0); with unbalanced data the KTO paper
   *     suggests λ_D·n_D / (λ_U·n_U) in [1, 4/3]
   */
  public record Settings(double beta, double desirableWeight, double undesirableWeight) {
    public static final Settings DEFAULTS = new Settings(0.1, 1.0, 1.0);

    public Settings {
      if (!(beta > 0) || !Double.isFinite(beta)) {
        throw new IllegalArgumentException("kto.beta must be a positive number, got " + beta);
      }
      if (!(desirableWeight >= 0) || !(undesirableWeight >= 0)
          || !Double.isFinite(desirableWeight + undesirableWeight)) {
        throw new IllegalArgumentException("kto.desirable-weight and kto.undesirable-weight must"
            + " be >= 0, got " + desirableWeight + " and " + undesirableWeight);
      }
    }
  }

  /** One rated completion: the prompt's tokens, the completion's, and the rating. */
  public record Example(int[] promptIds, int[] completionIds, boolean desirable) {
    public Example {
      if (promptIds.length == 0 || completionIds.length == 0) {
        throw new IllegalArgumentException("a KTO example needs a prompt and a completion, got "
            + promptIds.length + " and " + completionIds.length + " tokens");
      }
    }

    /**
     * From a preference example's fields: {@code ids} up to {@code completionEnd}, the
     * completion starting at {@code completionStart}.
     */
    public static Example of(List<Integer> ids, int completionStart, int completionEnd,
        boolean desirable) {
      if (completionStart < 1 || completionEnd <= completionStart || completionEnd > ids.size()) {
        throw new IllegalArgumentException("completion [" + completionStart + ", "
            + completionEnd + ") is not a non-empty span after a prompt in " + ids.size()
            + " tokens");
      }
      int[] all = ids.stream().mapToInt(Integer::intValue).toArray();
      return new Example(Arrays.copyOfRange(all, 0, completionStart),
          Arrays.copyOfRange(all, completionStart, completionEnd), desirable);
    }

    /** Prompt then completion, only the completion's tokens scored. */
    public Batch.Example sequence() {
      return sequence(promptIds, completionIds);
    }

    /** As {@link #sequence()}, carrying the rating: how the trainer's service holds it. */
    public Batch.Example rated() {
      Batch.Example s = sequence();
      return new Batch.Example(s.ids(), s.labels(),
          desirable ? Batch.Rating.DESIRABLE : Batch.Rating.UNDESIRABLE);
    }

    /**
     * Back from {@link #rated()}: the prompt is every token before the completion, which {@link
     * Batch.Example} keeps scored to the end.
     *
     * @throws IllegalArgumentException for an unrated example
     */
    public static Example of(Batch.Example rated) {
      if (rated.rating() == Batch.Rating.NONE) {
        throw new IllegalArgumentException("a KTO example needs a rating; this one is a"
            + " supervised example");
      }
      int[] ids = rated.ids();
      int start = rated.completionStart();
      return new Example(Arrays.copyOfRange(ids, 0, start),
          Arrays.copyOfRange(ids, start, ids.length), rated.rating() == Batch.Rating.DESIRABLE);
    }

    static Batch.Example sequence(int[] prompt, int[] completion) {
      int[] ids = Arrays.copyOf(prompt, prompt.length + completion.length);
      System.arraycopy(completion, 0, ids, prompt.length, completion.length);
      int[] labels = new int[ids.length];
      Arrays.fill(labels, 0, prompt.length, LabelContract.IGNORE_INDEX);
      System.arraycopy(completion, 0, labels, prompt.length, completion.length);
      return new Batch.Example(ids, labels);
    }
  }

  /** The KL estimate's sequences: prompt i with the completion of example i−1 (cyclic). */
  public static List<Batch.Example> mismatched(List<Example> examples) {
    int n = examples.size();
    List<Batch.Example> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      out.add(Example.sequence(examples.get(i).promptIds(),
          examples.get((i + n - 1) % n).completionIds()));
    }
    return out;
  }

  /** z_0: the mean log-ratio on mismatched pairs, at least 0. */
  public static double kl(double[] policyMismatched, double[] referenceMismatched) {
    double sum = 0;
    for (int i = 0; i < policyMismatched.length; i++) {
      sum += policyMismatched[i] - referenceMismatched[i];
    }
    return Math.max(0, sum / policyMismatched.length);
  }

  /** loss_i of one example. */
  public static double loss(Settings s, boolean desirable, double logratio, double kl) {
    return desirable ? s.desirableWeight() * (1 - sigmoid(s.beta() * (logratio - kl)))
        : s.undesirableWeight() * (1 - sigmoid(s.beta() * (kl - logratio)));
  }

  /** d loss_i / d log π(y_i|x_i): z_0 and the reference are constants. */
  public static double gradient(Settings s, boolean desirable, double logratio, double kl) {
    if (desirable) {
      double p = sigmoid(s.beta() * (logratio - kl));
      return -s.desirableWeight() * s.beta() * p * (1 - p);
    }
    double p = sigmoid(s.beta() * (kl - logratio));
    return s.undesirableWeight() * s.beta() * p * (1 - p);
  }

  static double sigmoid(double x) {
    return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
  }

  /**
   * What a KTO pass measured over some examples.
   *
   * @param loss the mean KTO loss
   * @param kl z_0
   * @param policyLogps log π(y_i|x_i), per example
   * @param referenceLogps log π_ref(y_i|x_i), per example
   * @param desirable each example's rating
   */
  public record Scores(double loss, double kl, double[] policyLogps, double[] referenceLogps,
      boolean[] desirable, double beta) {
    /** β · logratio_i: how much more likely the adapter makes the completion than the base. */
    public double reward(int i) {
      return beta * (policyLogps[i] - referenceLogps[i]);
    }

    /**
     * The share of examples that KTO's value function puts on their rating's side of its
     * reference point: desirable ones with {@code β·(logratio − z_0) > 0}, undesirable ones below
     * it, a tie counting one half (so 0.5 for the base model, where every log-ratio and z_0 are
     * 0). Against 0 rather than z_0, a policy that makes every reply of the house format more
     * likely, wrong ones too, would score its rejections as right.
     */
    public double rewardAccuracy() {
      double right = 0;
      for (int i = 0; i < desirable.length; i++) {
        double margin = reward(i) - beta * kl;
        right += margin == 0 ? 0.5 : (margin > 0) == desirable[i] ? 1 : 0;
      }
      return right / desirable.length;
    }
  }
}
