package io.continualsft.it.bench;

import io.continualsft.avro.SftExample;
import io.continualsft.chat.labels.LabelContract;
import io.continualsft.local.KafkaBroker;
import io.continualsft.local.SchemaRegistryServer;
import io.continualsft.local.Topics;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.trainer.model.Engines;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.model.ModelIdentity;
import io.continualsft.trainer.service.TrainerService;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Does the service's memory stay flat? 10,000 steps of the trainer service on the real broker
 * with everything it does in production turned on: two examples per step, replay (ρ = 0.25: one
 * example read back by offset per step), the held-out slice, a checkpoint every 100 steps, each
 * gated against the release and most of them released in their transaction. The model is tiny
 * (the parity Qwen3, vocabulary 96), so 10,000 steps take minutes and what grows is the
 * service, not the model. The process's resident set (VmRSS) is read at every checkpoint; the
 * heap is fixed (-Xms = -Xmx) so only leaks, not the heap's growth, would show.
 *
 * <p>Given a model directory with its tokenizer (a model of the sizes people adapt, from {@code
 * trainer-service init-model}), the same at that size: {@code soak.steps} steps (default 200)
 * of {@code soak.per-step} examples (default 3) of 64 to 511 tokens over its vocabulary, LoRA
 * r=8 on q/v without dropout, the trainer's own defaults for precision, micro-batches and
 * recomputation, a checkpoint every {@code soak.checkpoint-every} steps (default 20); it prints
 * the steps' rate in trained tokens/s besides the RSS.
 *
 * <pre>./mvnw -q -pl integration-tests exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=io.continualsft.it.bench.SoakBenchmark [-Dexec.args=MODEL_DIR] \
 *     (with -Xms512m -Xmx512m in MAVEN_OPTS)</pre>
 */
public final class SoakBenchmark {
  static final int STEPS = 10_000;
  static final int PER_STEP = 2;

  /** What one soak runs: the tiny parity model's profile, or a realistic model's. */
  record Profile(Path model, boolean realistic, int steps, int perStep, int checkpointEvery,
      int vocab, int minLength, int maxLength) {
    static Profile of(String[] args) {
      if (args.length > 0 && Files.isRegularFile(Path.of(args[0], "tokenizer.json"))) {
        Path dir = Path.of(args[0]);
        int vocab = io.continualsft.trainer.model.ModelConfig.read(dir.resolve("config.json"))
            .vocabSize();
        return new Profile(dir, true, Integer.getInteger("soak.steps", 200),
            Integer.getInteger("soak.per-step", 3),
            Integer.getInteger("soak.checkpoint-every", 20), vocab, 64, 512);
      }
      Path parity = Path.of(args.length > 0 ? args[0]
          : "trainer-service/src/test/resources/parity/qwen3/model");
      return new Profile(parity, false, STEPS, PER_STEP, 100, 96, 12, 32);
    }
  }

  public static void main(String[] args) throws Exception {
    Engines.configure();
    Profile profile = Profile.of(args);
    Path work = Files.createTempDirectory("soak-bench");
    Path model = profile.model();
    if (!profile.realistic()) {
      model = Files.createDirectories(work.resolve("model"));
      for (String f : List.of("config.json", "model.safetensors")) {
        Files.copy(profile.model().resolve(f), model.resolve(f));
      }
      // The trainer only fingerprints the tokenizer file; these examples are made of ids.
      Files.writeString(model.resolve("tokenizer.json"), "{\"soak\": true}");
    }
    ModelIdentity identity = ModelIdentity.of(model, "soak");
    try (KafkaBroker broker = KafkaBroker.start(work.resolve("kafka"));
        SchemaRegistryServer registry = SchemaRegistryServer.start(work.resolve("registry"));
        Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG,
            broker.bootstrapServers()))) {
      Topics.createAndAwait(admin, List.of(Topics.topic("ex", 1), Topics.topic("dlq", 1),
          Topics.topic("ckpt", 1), Topics.topic("releases", 1)
              .configs(Map.of("cleanup.policy", "compact"))), Duration.ofSeconds(60));
      int count = profile.steps() * profile.perStep() * 105 / 100; // the held-out 2 %, spare
      try (SchemaRegistryClient client =
              new SchemaRegistryClient(SchemaRegistryConfig.forUrl(registry.url(), true));
          var producer = new KafkaProducer<>(Map.<String, Object>of(
              ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers(),
              ProducerConfig.LINGER_MS_CONFIG, 20),
              new StringSerializer(), new AvroSerializer<SftExample>(client, false))) {
        SplittableRandom random = new SplittableRandom(17);
        for (int i = 0; i < count; i++) {
          SftExample e = example("soak-" + i, random, identity.tokenizerFingerprint(), profile);
          producer.send(new ProducerRecord<>("ex", e.getConversationId(), e));
        }
        producer.flush();
      }
      TrainerSettings.Builder builder = TrainerSettings.builder()
          .set(TrainerConfig.BOOTSTRAP_SERVERS, broker.bootstrapServers()).set(TrainerConfig.REGISTRY_URL, registry.url())
          .set(TrainerConfig.AUTO_REGISTER_SCHEMAS, "true")
          .set(TrainerConfig.TOPIC_EXAMPLES, "ex").set(TrainerConfig.TOPIC_DEAD_LETTERS, "dlq").set(TrainerConfig.TOPIC_CHECKPOINTS, "ckpt")
          .set(TrainerConfig.TOPIC_RELEASES, "releases")
          .set(TrainerConfig.MODEL_DIR, model).set(TrainerConfig.MODEL_NAME, "soak")
          .set(TrainerConfig.STEP_TOKENS, 1_000_000).set(TrainerConfig.STEP_EXAMPLES, profile.perStep())
          .set(TrainerConfig.WARMUP_STEPS, 10).set(TrainerConfig.EVAL_FRACTION, 0.02).set(TrainerConfig.EVAL_MAX_EXAMPLES, 32)
          .set(TrainerConfig.GATE_MAX_EVAL_INCREASE, 0.05)
          .set(TrainerConfig.REPLAY_FRACTION, 0.25)
          .set(TrainerConfig.CHECKPOINT_EVERY_STEPS, profile.checkpointEvery()).set(TrainerConfig.CHECKPOINT_EVERY_SECONDS, 3600)
          .set(TrainerConfig.METRICS_PORT, 0)
          .set(TrainerConfig.PROGRESS_EVERY_STEPS, profile.realistic() ? 10 : 1000);
      if (profile.realistic()) {
        builder.set(TrainerConfig.LORA_R, 8).set(TrainerConfig.LORA_ALPHA, 16)
            .set(TrainerConfig.LORA_TARGET_MODULES, List.of("q_proj", "v_proj"))
            .set(TrainerConfig.LEARNING_RATE, 1e-4);
      } else {
        builder.set(TrainerConfig.LORA_R, 4).set(TrainerConfig.LORA_ALPHA, 8).set(TrainerConfig.LORA_DROPOUT, 0.1).set(TrainerConfig.LORA_TARGET_MODULES, List.of("all-linear"))
            .set(TrainerConfig.MAX_LENGTH, 64).set(TrainerConfig.TOKEN_BUDGET, 128)
            .set(TrainerConfig.LEARNING_RATE, 1e-3);
      }
      TrainerSettings settings = builder.build();
      List<long[]> samples = new ArrayList<>(); // step, RSS bytes
      Instant started = Instant.now();
      try (TrainerService service = TrainerService.create(settings)) {
        AtomicBoolean stop = new AtomicBoolean();
        service.onPublished(p -> {
          samples.add(new long[] {p.step(), rss()});
          if (p.step() % (profile.checkpointEvery() * 10) == 0) {
            System.out.printf("step %5d: RSS %,d KiB%n", p.step(), samples.getLast()[1] / 1024);
          }
          if (p.step() == profile.checkpointEvery() * 10L) {
            nativeMemory("baseline"); // with -XX:NativeMemoryTracking=summary: where it grows
          }
          if (p.step() >= profile.steps()) {
            stop.set(true);
          }
        });
        ServiceThread.start(service, stop::get, "soak-trainer").get();
      }
      System.out.printf("%d steps in %s%n", samples.getLast()[0],
          Duration.between(started, Instant.now()));
      // Past warm-up (allocator pools grown): step 1,000 of the tiny soak, the middle of a
      // realistic one.
      long reference = profile.realistic() ? profile.steps() / 2 / profile.checkpointEvery()
          * profile.checkpointEvery() : profile.checkpointEvery() * 10L;
      long atReference = 0;
      for (long[] s : samples) {
        System.out.printf("  checkpoint at step %5d: RSS %,d KiB%n", s[0], s[1] / 1024);
        if (s[0] == reference) {
          atReference = s[1];
        }
      }
      long last = samples.getLast()[1];
      System.out.printf("RSS at step %d / RSS at step %d: %.4f%n", samples.getLast()[0],
          reference, (double) last / atReference);
      nativeMemory("summary.diff");
    }
  }

  static SftExample example(String id, SplittableRandom random, String fingerprint,
      Profile profile) {
    int length = profile.minLength() + random.nextInt(profile.maxLength() - profile.minLength());
    List<Integer> ids = new ArrayList<>();
    List<Integer> labels = new ArrayList<>();
    // The answer: the last 4 to 7 tokens of a tiny example, the last third of a realistic one.
    int answer = profile.realistic() ? length - length / 3 : length - 4 - random.nextInt(4);
    int vocab = profile.vocab();
    for (int t = 0; t < length; t++) {
      int token = t == 0 ? random.nextInt(vocab) : (int) ((ids.get(t - 1) * 7L + 3) % vocab);
      ids.add(token);
      labels.add(t >= answer ? token : LabelContract.IGNORE_INDEX);
    }
    return SftExample.newBuilder().setConversationId(id).setAdapter("default")
        .setInputIds(ids).setLabels(labels).setTrainedTokens(length - answer)
        .setTokenizerFingerprint(fingerprint).setTemplateFingerprint("soak")
        .setSourceTopic("soak").setSourcePartition(0).setSourceOffset(0)
        .setCreatedAt(Instant.EPOCH).build();
  }

  /** jcmd VM.native_memory on this JVM, when it tracks native memory. */
  static void nativeMemory(String what) {
    if (!java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
        .anyMatch(a -> a.startsWith("-XX:NativeMemoryTracking"))) {
      return;
    }
    try {
      Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd")
          .toString(), String.valueOf(ProcessHandle.current().pid()), "VM.native_memory", what)
          .redirectErrorStream(true).start();
      System.out.println(new String(p.getInputStream().readAllBytes()));
      p.waitFor();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** VmRSS of this process, from /proc/self/status (Linux). */
  static long rss() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
        }
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    throw new IllegalStateException("no VmRSS in /proc/self/status");
  }
}
