package io.continualsft.it.bench;

import ai.djl.ndarray.NDManager;
import io.continualsft.avro.Conversation;
import io.continualsft.avro.Message;
import io.continualsft.chat.TestModels;
import io.continualsft.chat.bench.ConversationMix;
import io.continualsft.chat.format.ChatModel;
import io.continualsft.chat.labels.ExampleLabeler;
import io.continualsft.chat.labels.LabelingSettings;
import io.continualsft.chat.labels.RejectedException;
import io.continualsft.avro.PreferenceExample;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.Engines;
import io.continualsft.trainer.model.ModelConfig;
import io.continualsft.trainer.model.ModelFactory;
import io.continualsft.trainer.train.AdapterTraining;
import io.continualsft.trainer.train.Kto;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;

/**
 * Not a test. What a KTO step costs against an SFT step on the same sequences (the rated turns
 * of the bench's conversation mix: each prompt and its reply, half of them desirable), on the
 * 20 M-parameter Qwen3-h128 shape and the Qwen2.5-0.5B shape, the trainer's default precision
 * and micro-batching. Per model: one warm-up step of each, then {@code ROUNDS} rounds of one SFT
 * step and one KTO step on the same batch, alternating, timed apart.
 *
 * <pre>java -cp ... io.continualsft.it.bench.KtoStepBenchmark [rounds] [batch]</pre>
 */
public final class KtoStepBenchmark {
  public static void main(String[] args) throws Exception {
    Engines.configure();
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
    int batch = args.length > 1 ? Integer.parseInt(args[1]) : 8;
    int vocab = ModelFactory.vocabSize(TestModels.qwen3Dir().resolve("tokenizer.json"));
    Path work = Files.createTempDirectory("kto-bench");
    List<Kto.Example> rated = rated(batch);
    long completionTokens = rated.stream().mapToLong(e -> e.completionIds().length).sum();
    long allTokens = rated.stream()
        .mapToLong(e -> e.promptIds().length + e.completionIds().length).sum();
    System.out.printf("batch: %d rated turns, %d tokens, %d of them completion%n", rated.size(),
        allTokens, completionTokens);
    for (String shape : new String[] {"qwen3-h128", "qwen2.5-0.5b"}) {
      ModelConfig config = shape.equals("qwen3-h128")
          ? new ModelConfig("qwen3", vocab, 128, 256, 4, 4, 2, 32, 1e-6, 1e6, true, false, true,
              4096)
          : ModelConfig.of("qwen2", vocab, 896, 4864, 24, 14, 2, 64, true);
      Path model = work.resolve(shape);
      ModelFactory.write(model, config, 3, 1.0, TestModels.qwen3Dir());
      TrainerSettings settings = TrainerSettings.builder()
          .set(TrainerConfig.BOOTSTRAP_SERVERS, "unused:9092")
          .set(TrainerConfig.REGISTRY_URL, "http://unused").set(TrainerConfig.MODEL_DIR, model)
          .set(TrainerConfig.LORA_R, 8).set(TrainerConfig.LORA_ALPHA, 16)
          .set(TrainerConfig.LORA_DROPOUT, 0.0)
          .set(TrainerConfig.LORA_TARGET_MODULES, List.of("q_proj", "v_proj"))
          .set(TrainerConfig.LEARNING_RATE, 1e-4).set(TrainerConfig.WARMUP_STEPS, 0).build();
      List<Batch.Example> sequences = rated.stream().map(Kto.Example::sequence).toList();
      try (AdapterTraining training = AdapterTraining.open(settings,
          NDManager.newBaseManager())) {
        System.out.printf("%s: %,d parameters, %s%n", shape, config.parameterCount(),
            training.plan());
        training.step(sequences);
        training.stepKto(rated, Kto.Settings.DEFAULTS);
        for (int round = 1; round <= rounds; round++) {
          long t0 = System.nanoTime();
          training.step(sequences);
          long t1 = System.nanoTime();
          training.stepKto(rated, Kto.Settings.DEFAULTS);
          long t2 = System.nanoTime();
          double sft = (t1 - t0) / 1e9;
          double kto = (t2 - t1) / 1e9;
          System.out.printf("%s round %d: SFT step %.3f s (%.1f completion tokens/s), KTO step"
              + " %.3f s (%.1f completion tokens/s), KTO / SFT %.2f%n", shape, round, sft,
              completionTokens / sft, kto, completionTokens / kto, kto / sft);
        }
      }
    }
  }

  /** The last assistant turn of conversations of the mix, alternately desirable. */
  static List<Kto.Example> rated(int count) throws RejectedException {
    List<Kto.Example> out = new ArrayList<>();
    try (ChatModel model = TestModels.qwen3()) {
      ExampleLabeler labeler = new ExampleLabeler(model, LabelingSettings.DEFAULTS,
          Clock.systemUTC());
      for (Conversation c : ConversationMix.generate(4 * count, 26)) {
        List<Message> messages = c.getMessages();
        int last = -1;
        for (int i = 0; i < messages.size(); i++) {
          if ("assistant".equals(messages.get(i).getRole())
              && messages.get(i).getToolCalls() == null) {
            last = i;
          }
        }
        if (last < 0) {
          continue;
        }
        try {
          PreferenceExample p = labeler.preference(c, last, "bench", 0, out.size()).setDesirable(
              out.size() % 2 == 0).setRating("up").build();
          out.add(Kto.Example.of(p.getInputIds(), p.getCompletionStart(), p.getCompletionEnd(),
              p.getDesirable()));
        } catch (RejectedException e) {
          continue; // the mix has some the template refuses
        }
        if (out.size() == count) {
          break;
        }
      }
    }
    return out;
  }
}
