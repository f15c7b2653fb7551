package io.continualsft.trainer.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.continualsft.chat.labels.LabelContract;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.lora.PeftAdapter;
import io.continualsft.trainer.model.Batch;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The training side of the service: no NDArray outlives a step, and snapshots restore. */
class AdapterTrainingTest {
  static final Path MODEL = Path.of("src/test/resources/parity/qwen3/model");

  static TrainerSettings settings() {
    return TrainerSettings.builder().set(TrainerConfig.PRECISION, "fp32")
        .set(TrainerConfig.BOOTSTRAP_SERVERS, "unused:9092").set(TrainerConfig.REGISTRY_URL, "http://unused")
        .set(TrainerConfig.MODEL_DIR, MODEL).set(TrainerConfig.LORA_R, 4).set(TrainerConfig.LORA_ALPHA, 8).set(TrainerConfig.LORA_DROPOUT, 0.1)
        .set(TrainerConfig.LORA_TARGET_MODULES, List.of("all-linear")).set(TrainerConfig.SEED, 3).set(TrainerConfig.MAX_LENGTH, 32).set(TrainerConfig.TOKEN_BUDGET, 40)
        .set(TrainerConfig.LEARNING_RATE, 0.01).set(TrainerConfig.WARMUP_STEPS, 0).build();
  }

  static List<Batch.Example> window(int salt) {
    List<Batch.Example> out = new ArrayList<>();
    for (int e = 0; e < 4; e++) {
      int length = 6 + e * 3;
      int[] ids = new int[length];
      int[] labels = new int[length];
      for (int i = 0; i < length; i++) {
        ids[i] = (i * 31 + e * 17 + salt * 7) % 96;
        labels[i] = i >= length / 2 ? ids[i] : LabelContract.IGNORE_INDEX;
      }
      out.add(new Batch.Example(ids, labels));
    }
    return out;
  }

  /**
   * Every array a step makes is closed by the end of it. Before this test, each step left two
   * per LoRA parameter behind (AdamW's bias-corrected second moment, and the scalar of the
   * gradients' zeroing): native memory of the adapter's size, every step, for ever.
   */
  @Test
  void aTrainingStepLeavesNoNDArrayOpen() {
    NDManager params = NDManager.newBaseManager();
    try (AdapterTraining training = AdapterTraining.open(settings(), params)) {
      int loraParameters = training.lora().parameters().size();
      int before = params.getManagedArrays().size(); // base weights and LoRA parameters
      training.step(window(0)); // the first step creates the optimizer's two moments per parameter
      int open = params.getManagedArrays().size();
      assertThat(open).as("base weights, LoRA parameters and their moments, nothing else")
          .isEqualTo(before + 2 * loraParameters);
      for (int i = 1; i <= 5; i++) {
        LoraTrainer.StepResult r = training.step(window(i)); // several micro-batches each
        assertThat(r.applied()).isTrue();
        assertThat(params.getManagedArrays()).hasSize(open);
      }
      assertThat(training.evalLoss(window(9))).isFinite();
      training.adapter("tiny");
      training.moments();
      assertThat(params.getManagedArrays()).hasSize(open);
    }
  }

  @Test
  void aRestoredSnapshotTrainsOnExactlyAsTheOriginal() {
    try (AdapterTraining original = AdapterTraining.open(settings(), NDManager.newBaseManager());
        AdapterTraining restored = AdapterTraining.open(settings(), NDManager.newBaseManager())) {
      original.step(window(0));
      original.step(window(1));
      restored.load(original.state());
      for (int i = 2; i < 5; i++) {
        LoraTrainer.StepResult a = original.step(window(i));
        LoraTrainer.StepResult b = restored.step(window(i));
        assertThat(b.step()).isEqualTo(a.step());
        assertThat(b.loss()).isEqualTo(a.loss());
      }
      PeftAdapter a = original.adapter("tiny");
      PeftAdapter b = restored.adapter("tiny");
      assertThat(b.weightsBytes()).isEqualTo(a.weightsBytes());
    }
  }
}
