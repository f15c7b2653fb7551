package io.continualsft.it.bench;

import ai.djl.ndarray.NDManager;
import io.continualsft.avro.Conversation;
import io.continualsft.avro.SftExample;
import io.continualsft.chat.TestModels;
import io.continualsft.chat.bench.ConversationMix;
import io.continualsft.chat.format.ChatModel;
import io.continualsft.chat.labels.LabelingSettings;
import io.continualsft.local.KafkaBroker;
import io.continualsft.local.SchemaRegistryServer;
import io.continualsft.local.Topics;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.chat.labels.ExampleLabeler;
import io.continualsft.trainer.model.Engines;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.lora.LoraModel;
import io.continualsft.trainer.lora.LoraSettings;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.LlamaModel;
import io.continualsft.trainer.model.ModelConfig;
import io.continualsft.trainer.model.ModelFactory;
import io.continualsft.trainer.model.ModelLoader;
import io.continualsft.trainer.service.TrainerService;
import io.continualsft.trainer.train.AdamW;
import io.continualsft.trainer.train.LearningRate;
import io.continualsft.trainer.train.LoraTrainer;
import io.continualsft.trainer.train.TokenBudgetBatcher;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Not a test. (1) Token utilisation, bucketed vs packed, on the realistic ConversationMix labelled
 * by the streams app with the Qwen3 template. (2) Trained tokens/s of the trainer service on the
 * real broker (consume, batch, train, checkpoint every 5 steps) against the bare training loop on
 * the same examples in the same JVM.
 *
 * <pre>./mvnw -q -pl integration-tests exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=io.continualsft.it.bench.TrainerThroughputBenchmark</pre>
 */
public final class TrainerThroughputBenchmark {
  public static void main(String[] args) throws Exception {
    Engines.configure();
    Path work = Files.createTempDirectory("trainer-bench");
    Path model = work.resolve("model");
    ModelConfig config = new ModelConfig("qwen3", ModelFactory.vocabSize(
        TestModels.qwen3Dir().resolve("tokenizer.json")), 128, 256, 4, 4, 2, 32, 1e-6, 1e6, true,
        false, true, 4096);
    ModelFactory.write(model, config, 3, 1.0, TestModels.qwen3Dir());

    List<SftExample> mix = label(model, ConversationMix.generate(400, 11));
    for (int budget : new int[] {4096, 8192}) {
      for (boolean pack : new boolean[] {false, true}) {
        TokenBudgetBatcher batcher = new TokenBudgetBatcher(budget, 4096, pack, 0);
        long real = 0;
        long computed = 0;
        for (List<Batch.Example> window : windows(mix, 8192)) {
          TokenBudgetBatcher.Plan plan = batcher.plan(window);
          real += plan.realTokens();
          computed += plan.computedTokens();
        }
        System.out.printf("utilisation, %s, budget %d, steps of 8192 trained tokens: %.3f%n",
            pack ? "packed" : "bucketed", budget, (double) real / computed);
      }
    }

    // Throughput on short examples (the tutorial-sized ones), so the run stays short on 2 cores.
    System.out.println("measuring throughput ...");
    List<SftExample> examples = label(model, io.continualsft.it.trainer.TrainerFixtures
        .conversations(600, "bench"));
    double bare = bareLoop(model, examples);
    double service = service(work, model, examples);
    System.out.printf("bare training loop: %.0f trained tokens/s%nservice on the real broker:"
        + " %.0f trained tokens/s%nratio service / bare: %.2f%n", bare, service, service / bare);
  }

  static List<SftExample> label(Path model, List<Conversation> conversations) throws Exception {
    List<SftExample> out = new ArrayList<>();
    try (ChatModel chat = ChatModel.load(model, "default", Clock.systemUTC())) {
      ExampleLabeler labeler = new ExampleLabeler(chat,
          LabelingSettings.DEFAULTS.withMaxLength(4096, LabelingSettings.Truncation.DROP),
          Clock.systemUTC());
      for (Conversation c : conversations) {
        try {
          out.add(labeler.prepare(c, "in", 0, out.size()).example());
        } catch (io.continualsft.chat.labels.RejectedException e) {
          // longer than 4096 tokens: not part of the mix
        }
      }
    }
    return out;
  }

  static List<List<Batch.Example>> windows(List<SftExample> examples, int stepTokens) {
    List<List<Batch.Example>> out = new ArrayList<>();
    List<Batch.Example> current = new ArrayList<>();
    long tokens = 0;
    for (SftExample e : examples) {
      current.add(Batch.Example.of(e.getInputIds(), e.getLabels()));
      tokens += e.getTrainedTokens();
      if (tokens >= stepTokens) {
        out.add(current);
        current = new ArrayList<>();
        tokens = 0;
      }
    }
    if (!current.isEmpty()) {
      out.add(current);
    }
    return out;
  }

  static double bareLoop(Path modelDir, List<SftExample> examples) {
    try (NDManager params = NDManager.newBaseManager();
        LlamaModel model = ModelLoader.load(modelDir, params.newSubManager())) {
      LoraModel lora = LoraModel.attachFresh(model, new LoraSettings(8, 16, 0, List.of("q_proj", "v_proj"), false), 1);
      LoraTrainer trainer = new LoraTrainer(model, params,
          new AdamW(params.newSubManager(), 0.9, 0.999, 1e-8, 0),
          new LearningRate(1e-4, 10, false, 0, 0), 1.0, 1, null);
      TokenBudgetBatcher batcher = new TokenBudgetBatcher(4096, 1024, false, 0);
      long start = System.nanoTime();
      long tokens = 0;
      for (List<Batch.Example> w : windows(examples, 512)) {
        tokens += trainer.train(batcher.plan(w), lora.parameters()).trainedTokens();
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      System.out.printf("bare loop: %d trained tokens in %.1f s%n", tokens, seconds);
      return tokens / seconds;
    }
  }

  static double service(Path work, Path modelDir, List<SftExample> examples) throws Exception {
    try (KafkaBroker broker = KafkaBroker.start(work.resolve("kafka"));
        SchemaRegistryServer registry = SchemaRegistryServer.start(work.resolve("registry"));
        Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG,
            broker.bootstrapServers()))) {
      Topics.createAndAwait(admin, List.of(Topics.topic("ex", 1), Topics.topic("dlq", 1),
          Topics.topic("ckpt", 1), Topics.topic("releases", 1)
              .configs(Map.of("cleanup.policy", "compact"))), Duration.ofSeconds(60));
      try (SchemaRegistryClient client =
              new SchemaRegistryClient(SchemaRegistryConfig.forUrl(registry.url(), true));
          var producer = new KafkaProducer<>(Map.<String, Object>of(
              ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers()),
              new StringSerializer(), new AvroSerializer<SftExample>(client, false))) {
        for (SftExample e : examples) {
          producer.send(new ProducerRecord<>("ex", e.getConversationId(), e));
        }
        producer.flush();
      }
      TrainerSettings settings = TrainerSettings.builder()
          .set(TrainerConfig.BOOTSTRAP_SERVERS, broker.bootstrapServers())
          .set(TrainerConfig.REGISTRY_URL, registry.url())
          .set(TrainerConfig.AUTO_REGISTER_SCHEMAS, "true")
          .set(TrainerConfig.TOPIC_EXAMPLES, "ex")
          .set(TrainerConfig.TOPIC_DEAD_LETTERS, "dlq")
          .set(TrainerConfig.TOPIC_CHECKPOINTS, "ckpt")
          .set(TrainerConfig.TOPIC_RELEASES, "releases")
          .set(TrainerConfig.MODEL_DIR, modelDir)
          .set(TrainerConfig.MAX_LENGTH, 1024)
          .set(TrainerConfig.TOKEN_BUDGET, 4096)
          .set(TrainerConfig.STEP_TOKENS, 512)
          .set(TrainerConfig.EVAL_FRACTION, 0)
          .set(TrainerConfig.CHECKPOINT_EVERY_STEPS, 5)
          .set(TrainerConfig.METRICS_PORT, 0)
          .set(TrainerConfig.PROGRESS_EVERY_STEPS, 1_000_000)
          .build();
      long total = examples.stream().mapToLong(SftExample::getTrainedTokens).sum();
      long start = System.nanoTime();
      try (TrainerService service = TrainerService.create(settings)) {
        AtomicBoolean stop = new AtomicBoolean();
        CompletableFuture<Void> run = ServiceThread.start(service, stop::get, "trainer");
        long deadline = System.nanoTime() + 300_000_000_000L;
        double trained = 0;
        double skippedSteps = 0;
        while (System.nanoTime() < deadline && !run.isDone()) {
          trained = service.metrics().tokensTrained();
          skippedSteps = service.metrics().stepsSkipped();
          if (trained >= total || (trained > 0 && skippedSteps > 0 && trained + 2000 >= total)) {
            break;
          }
          Thread.sleep(100);
        }
        long elapsed = System.nanoTime() - start;
        stop.set(true);
        run.get();
        System.out.printf("service: %.0f of %d trained tokens in %.1f s (%.0f steps skipped)%n",
            trained, total, elapsed / 1e9, skippedSteps);
        return trained / (elapsed / 1e9);
      }
    }
  }
}
