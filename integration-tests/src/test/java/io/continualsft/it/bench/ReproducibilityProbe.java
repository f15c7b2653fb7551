package io.continualsft.it.bench;

import ai.djl.ndarray.NDManager;
import io.continualsft.avro.SftExample;
import io.continualsft.trainer.model.Engines;
import io.continualsft.trainer.lora.LoraModel;
import io.continualsft.trainer.lora.LoraSettings;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.LlamaModel;
import io.continualsft.trainer.model.ModelLoader;
import io.continualsft.trainer.service.ExampleAdmission;
import io.continualsft.trainer.train.AdamW;
import io.continualsft.trainer.train.LearningRate;
import io.continualsft.trainer.train.LoraTrainer;
import io.continualsft.trainer.train.TokenBudgetBatcher;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Not a test: the trainer's steps without Kafka, printed in full precision, to compare processes. */
public final class ReproducibilityProbe {
  public static void main(String[] args) throws Exception {
    Engines.configure();
    if (Boolean.getBoolean("probe.churn")) { // GC pressure, as a service's Kafka clients make
      Thread churn = new Thread(() -> {
        java.util.List<Object> keep = new java.util.ArrayList<>();
        for (long i = 0; ; i++) {
          keep.add(new byte[64 * 1024]);
          keep.add(java.nio.ByteBuffer.allocateDirect(256 * 1024));
          if (keep.size() > 200) {
            keep.clear();
          }
          if (i % 500 == 0) {
            System.gc();
          }
        }
      }, "churn");
      churn.setDaemon(true);
      churn.start();
    }
    double dropout = Double.parseDouble(args.length > 0 ? args[0] : "0.1");
    Path dir = Path.of(args.length > 1 ? args[1] : "target/reproducibility-probe/model");
    if (!Files.exists(dir.resolve("config.json"))) {
      io.continualsft.it.trainer.TrainerFixtures.tinyModel(java.nio.file.Files.createDirectories(dir));
    }
    List<SftExample> examples = TrainerThroughputBenchmark.label(dir,
        io.continualsft.it.trainer.TrainerFixtures.conversations(Integer.getInteger("probe.conversations", 400), "crash"));
    List<SftExample> trainable = examples.stream()
        .filter(e -> !ExampleAdmission.heldOut(e.getConversationId(), 0.15)).toList();
    try (NDManager params = NDManager.newBaseManager();
        LlamaModel model = ModelLoader.load(dir, params.newSubManager())) {
      LoraModel lora = LoraModel.attachFresh(model, new LoraSettings(8, 16, dropout, List.of("all-linear"), false), 11);
      LoraTrainer trainer = new LoraTrainer(model, params,
          new AdamW(params.newSubManager(), 0.9, 0.999, 1e-8, 0),
          new LearningRate(0.01, 2, false, 0, 0), 1.0, 11, null);
      TokenBudgetBatcher batcher = new TokenBudgetBatcher(512, 256, false, 0);
      for (List<Batch.Example> w : TrainerThroughputBenchmark.windows(trainable, 60)) {
        LoraTrainer.StepResult r = trainer.train(batcher.plan(w), lora.parameters());
        System.out.println("STEP " + r.step() + " " + r.applied() + " " + r.loss() + " " + r.gradNorm());
      }
    }
  }
}
