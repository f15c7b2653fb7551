package io.continualsft.trainer.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * AdamW as torch.optim.AdamW computes it (decoupled weight decay applied first, bias-corrected
 * moments, eps added after the square root). Written here rather than DJL's Adam because a
 * checkpoint must save and restore the moments, which DJL's optimizer keeps private.
 */
public final class AdamW {
  private final double beta1;
  private final double beta2;
  private final double eps;
  private final double weightDecay;
  private final NDManager manager;
  private final Map<String, NDArray> first = new LinkedHashMap<>();
  private final Map<String, NDArray> second = new LinkedHashMap<>();
  private long steps;

  public AdamW(NDManager manager, double beta1, double beta2, double eps, double weightDecay) {
    this.manager = manager;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
  }

  /** Updates every parameter in place with its gradient, at learning rate {@code lr}. */
  public void step(Map<String, NDArray> params, Map<String, NDArray> grads, double lr) {
    steps++;
    double correction1 = 1 - Math.pow(beta1, steps);
    double correction2 = 1 - Math.pow(beta2, steps);
    for (Map.Entry<String, NDArray> e : params.entrySet()) {
      String name = e.getKey();
      NDArray p = e.getValue();
      NDArray g = grads.get(name);
      NDArray m = first.computeIfAbsent(name, k -> manager.zeros(p.getShape()));
      NDArray v = second.computeIfAbsent(name, k -> manager.zeros(p.getShape()));
      try (NDArray scaled = g.mul((float) (1 - beta1))) {
        m.muli((float) beta1).addi(scaled);
      }
      try (NDArray squared = g.mul(g)) {
        v.muli((float) beta2).addi(squared.muli((float) (1 - beta2)));
      }
      NDArray denominator;
      try (NDArray corrected = v.div((float) correction2)) { // closed: it would outlive the step
        denominator = corrected.sqrt().addi((float) eps);
      }
      NDArray update = m.div((float) correction1).divi(denominator);
      // The parameter is an autograd leaf: update its storage through a detached view.
      try (NDArray data = p.stopGradient()) {
        if (weightDecay != 0) {
          data.muli((float) (1 - lr * weightDecay));
        }
        data.subi(update.muli((float) lr));
      }
      denominator.close();
      update.close();
    }
  }

  public long steps() {
    return steps;
  }

  /** Moments by parameter name, as "<name>.exp_avg" / "<name>.exp_avg_sq" (torch's names). */
  public Map<String, float[]> state() {
    Map<String, float[]> out = new LinkedHashMap<>();
    first.forEach((k, v) -> out.put(k + ".exp_avg", v.toFloatArray()));
    second.forEach((k, v) -> out.put(k + ".exp_avg_sq", v.toFloatArray()));
    return out;
  }

  /** Forgets every moment and the step count: the optimizer of a fresh adapter. */
  public void reset() {
    first.values().forEach(NDArray::close);
    second.values().forEach(NDArray::close);
    first.clear();
    second.clear();
    steps = 0;
  }

  /** Restores moments and the step count saved by {@link #state()}. */
  public void restore(Map<String, float[]> state, Map<String, NDArray> params, long stepCount) {
    first.values().forEach(NDArray::close);
    second.values().forEach(NDArray::close);
    first.clear();
    second.clear();
    params.forEach((name, p) -> {
      float[] m = state.get(name + ".exp_avg");
      float[] v = state.get(name + ".exp_avg_sq");
      if (m == null || v == null) {
        throw new IllegalArgumentException("optimizer state lacks the moments of " + name);
      }
      first.put(name, manager.create(m, p.getShape()));
      second.put(name, manager.create(v, p.getShape()));
    });
    this.steps = stepCount;
  }
}
