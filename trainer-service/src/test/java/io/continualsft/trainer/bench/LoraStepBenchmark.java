package io.continualsft.trainer.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import io.continualsft.trainer.model.Engines;
import io.continualsft.trainer.lora.LoraModel;
import io.continualsft.trainer.lora.LoraSettings;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.LlamaModel;
import io.continualsft.trainer.model.ModelConfig;
import io.continualsft.trainer.model.ModelFactory;
import io.continualsft.trainer.model.SftLoss;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Not a test: tokens/s of one LoRA training step (forward, backward, AdamW on the adapter) on a
 * Llama model of hidden 512, 8 layers, GQA 8/4 heads, vocab 32,000, LoRA r=8 on q_proj and v_proj,
 * a batch of 2 × 256 tokens, all trained. The PyTorch eager reference is
 * src/test/bench/torch_lora_step.py, same shapes, same thread count.
 *
 * <pre>./mvnw -q -pl trainer-service test-compile exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=io.continualsft.trainer.bench.LoraStepBenchmark -Dexec.args="2 5"</pre>
 * (arguments: threads, timed steps)
 */
public final class LoraStepBenchmark {
  public static void main(String[] args) throws Exception {
    int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
    int steps = args.length > 1 ? Integer.parseInt(args[1]) : 5;
    System.setProperty("ai.djl.pytorch.num_threads", String.valueOf(threads));
    Engines.configure();
    ModelConfig config = new ModelConfig("llama", 32000, 512, 1536, 8, 8, 4, 64, 1e-6, 10000.0,
        false, false, false, 4096);
    int rows = 2;
    int time = 256;
    SplittableRandom random = new SplittableRandom(1);
    List<Batch.Example> examples = new ArrayList<>();
    for (int r = 0; r < rows; r++) {
      int[] ids = new int[time];
      for (int t = 0; t < time; t++) {
        ids[t] = random.nextInt(config.vocabSize());
      }
      examples.add(new Batch.Example(ids, ids.clone()));
    }
    Batch batch = Batch.separate(examples, 0);
    try (NDManager params = NDManager.newBaseManager();
        LlamaModel model = LlamaModel.fromWeights(config, ModelFactory.randomWeights(config, 1),
            params.newSubManager())) {
      LoraModel lora = LoraModel.attachFresh(model, new LoraSettings(8, 16, 0, List.of("q_proj", "v_proj"), false), 2);
      Optimizer adam = Optimizer.adamW().optLearningRateTracker(Tracker.fixed(1e-4f)).build();
      double[] seconds = new double[steps];
      for (int s = -2; s < steps; s++) { // two warm-up steps
        long start = System.nanoTime();
        try (NDManager step = params.newSubManager()) {
          try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            gc.backward(SftLoss.withGradient(model, batch, step).objective());
          }
          for (Map.Entry<String, NDArray> p : lora.parameters().entrySet()) {
            try (NDArray grad = p.getValue().getGradient()) {
              adam.update(p.getKey(), p.getValue(), grad);
            }
          }
        }
        if (s >= 0) {
          seconds[s] = (System.nanoTime() - start) / 1e9;
        }
      }
      double[] sorted = seconds.clone();
      Arrays.sort(sorted);
      double median = sorted[steps / 2];
      System.out.printf("DJL %s, %d threads: median step %.3f s, %.0f tokens/s (steps: %s), peak RSS %d MiB%n",
          Engine.getInstance().getVersion(), threads, median, rows * time / median,
          Arrays.toString(Arrays.stream(seconds).map(x -> Math.round(x * 1000) / 1000.0).toArray()),
          peakRssMiB());
    }
  }

  static long peakRssMiB() throws Exception {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmHWM:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
      }
    }
    return -1;
  }
}
