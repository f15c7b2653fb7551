package io.continualsft.local;

import ai.djl.ndarray.NDManager;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.Conversation;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.SftExample;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.streams.StreamsApp;
import io.continualsft.streams.cli.StreamsAppCli;
import io.continualsft.streams.config.StreamsAppConfig;
import io.continualsft.trainer.cli.Engines;
import io.continualsft.trainer.cli.TrainerCli;
import io.continualsft.trainer.generate.ChatSession;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.service.TrainerConfig;
import io.continualsft.trainer.service.TrainerService;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.avro.Schema;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The local default, continual SFT end to end on one machine: the real broker and registry (or
 * the user's), a small generated model with the bundled Qwen3 tokenizer (or the user's model),
 * the streams app and the trainer in this JVM, the bundled conversations (or the user's JSONL),
 * progress while it runs, then the newest adapter pulled from Kafka, a summary and replies from
 * the model before and after.
 */
@Command(
    name = "local",
    mixinStandardHelpOptions = true,
    description = "Runs continual SFT locally: broker, registry, streams app, trainer, pull.")
public final class LocalStackMain implements Callable<Integer> {
  /** Default topic names and the record type each one carries. */
  static final Map<String, Schema> TOPICS = Map.of(
      "sft.conversations", Conversation.getClassSchema(),
      "sft.examples", SftExample.getClassSchema(),
      "sft.conversations.dlq", Rejection.getClassSchema(),
      "sft.examples.dlq", Rejection.getClassSchema(),
      "sft.adapter-checkpoints", CheckpointRecord.getClassSchema());

  /** Held out from training (by a hash of the conversation id) and scored before and after. */
  static final double EVAL_FRACTION = 0.1;

  /** Prompts that are not in the bundled sample, asked of the model before and after. */
  static final List<String> PROMPTS = List.of("Please note that the printer is out of paper.",
      "Thank you so much!", "请记住：周五下午两点交报告。", "你好！");

  @Option(names = "--work-dir", description = "Where this run keeps its files and logs"
      + " (default: ${DEFAULT-VALUE}).", defaultValue = "target/local-run")
  Path workDir;

  @Option(names = "--model", description = "A Hugging Face model directory (config.json,"
      + " model.safetensors, tokenizer.json, tokenizer_config.json) to label and train with"
      + " (default: a small random Qwen3-architecture model generated with --tokenizer).")
  Path model;

  @Option(names = "--tokenizer", description = "Tokenizer and chat template of the generated"
      + " model (default: the bundled Qwen3 tokenizer, Apache-2.0).",
      defaultValue = "../tokenizers/qwen3")
  Path tokenizer;

  @Option(names = "--input", description = "Conversations JSONL to send, one"
      + " {\"id\", \"conversations\": [{\"role\", \"content\"}, ...]} per line (default: the"
      + " bundled sample, 309 lines: 300 conversations, 6 bad ones, 3 repeats).")
  Path input;

  @Option(names = "--bootstrap", description = "An existing Kafka cluster to use instead of"
      + " starting one (topics get a per-run suffix so runs do not mix).")
  String bootstrap;

  @Option(names = "--registry", description = "An existing schema registry (Confluent API base"
      + " URL) to use instead of starting one.")
  String registryUrl;

  @Option(names = "--lr", defaultValue = "0.03", description = "Learning rate (default:"
      + " ${DEFAULT-VALUE}; high, because the generated model is small and random).")
  double learningRate;

  @Option(names = "--lora-r", defaultValue = "16", description = "LoRA rank (default:"
      + " ${DEFAULT-VALUE}); alpha is twice the rank.")
  int loraR;

  @Option(names = "--hidden", defaultValue = "128", description = "Hidden size of the generated"
      + " model (default: ${DEFAULT-VALUE}).")
  int hidden;

  @Option(names = "--step-tokens", defaultValue = "32", description = "Trained tokens per"
      + " optimizer step (default: ${DEFAULT-VALUE}; small, so a few hundred conversations make"
      + " enough steps to show a trend).")
  int stepTokens;

  @Option(names = "--timeout-minutes", defaultValue = "20",
      description = "Give up if the pipeline has not drained by then (default: ${DEFAULT-VALUE}).")
  long timeoutMinutes;

  @Option(names = "--keep-running", description = "After the summary keep every service running"
      + " (produce more with `streams-app produce`) until Ctrl-C.")
  boolean keepRunning;

  public static void main(String[] args) {
    CommandLine cli = new CommandLine(new LocalStackMain());
    cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
      // What the run could explain (a bad option, a stage that did not finish) needs no trace.
      if (!(e instanceof IllegalArgumentException || e instanceof IllegalStateException)) {
        throw e;
      }
      commandLine.getErr().println("error: " + e.getMessage());
      return 1;
    });
    System.exit(cli.execute(args));
  }

  @Override
  public Integer call() throws Exception {
    Engines.configure();
    // On Ctrl-C the children's own hooks stop the broker and the registry; this one says so.
    Thread interrupted = new Thread(
        () -> System.out.println("Interrupted: stopping everything this run started."),
        "local-run-interrupted");
    Runtime.getRuntime().addShutdownHook(interrupted);
    try {
      return runPipeline();
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(interrupted);
      } catch (IllegalStateException shuttingDown) {
        // Ctrl-C: the hook is running or has run
      }
    }
  }

  private int runPipeline() throws Exception {
    Instant started = Instant.now();
    String runId = String.valueOf(started.toEpochMilli());
    Path run = workDir.resolve(runId).toAbsolutePath().normalize();
    Files.createDirectories(run);
    Path conversations = input != null ? input.toAbsolutePath() : bundledSample(run);
    Path modelDir = model != null ? model.toAbsolutePath().normalize() : generateModel(run);
    say("Work directory: %s", run);

    try (LocalServices services = LocalServices.start(bootstrap, registryUrl, run)) {
      // On a cluster of the user's own, a run gets its own topics, so a rerun starts clean.
      String suffix = services.embedded() ? "" : ".local-" + runId;
      RunTopics topics = new RunTopics(suffix);
      prepare(services, topics);
      Map<String, String> before = replies(modelDir, null);

      Map<String, String> streamsConfig = streamsConfig(services, topics, modelDir, run, runId);
      Map<String, String> trainerConfig = trainerConfig(services, topics, modelDir, runId);
      List<TrainerService.Published> published = new CopyOnWriteArrayList<>();
      say("Starting the streams app (labels with the chat template of %s) ...", modelDir);
      try (StreamsApp app = StreamsApp.start(StreamsAppConfig.of(streamsConfig))) {
        say("  metrics: http://127.0.0.1:%s/metrics  health: http://127.0.0.1:%1$s/health",
            streamsConfig.get(StreamsAppConfig.METRICS_PORT));
        say("Starting the trainer (LoRA r=%s on %s, lr %s) ...", trainerConfig.get("lora.r"),
            trainerConfig.get("lora.target-modules"), trainerConfig.get("optimizer.lr"));
        TrainerService trainer = new TrainerService(TrainerConfig.of(trainerConfig));
        trainer.onPublished(published::add);
        AtomicBoolean stop = new AtomicBoolean();
        CompletableFuture<Void> training = CompletableFuture.runAsync(() -> trainer.run(stop::get));
        try {
          say("  metrics: http://127.0.0.1:%d/metrics  health: http://127.0.0.1:%1$d/health",
              trainer.metricsPort());
          long lines = produce(services, topics, conversations);
          Counts counts = await(app.meterRegistry(), trainer, training, published, services,
              topics, lines);
          Path adapter = pull(services, topics, run);
          summary = summarize(services, topics, counts, List.copyOf(published), modelDir, adapter,
              before, started);
          if (keepRunning) {
            say("");
            say("Everything keeps running. Produce more with: java -jar"
                + " streams-app/target/streams-app.jar produce --bootstrap %s --registry %s"
                + " --topic %s --input FILE. Ctrl-C stops it all.", services.bootstrapServers(),
                services.registryUrl(), topics.conversations());
            CountDownLatch forever = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(forever::countDown));
            forever.await();
          }
        } finally {
          stop.set(true);
          say("Stopping the trainer, the streams app%s.",
              services.embedded() ? ", the registry and the broker" : "");
          try {
            training.get(60, TimeUnit.SECONDS);
          } catch (ExecutionException e) { // already reported by await(), if it got that far
            say("The trainer had stopped with: %s", e.getCause());
          } catch (TimeoutException e) {
            say("The trainer did not stop within 60 s; closing it.");
          } finally {
            trainer.close();
          }
        }
      }
    }
    say("Done in %s; nothing of this run is left running.", human(Duration.between(started,
        Instant.now())));
    return 0;
  }

  /** The five topics of the pipeline, with an optional per-run suffix. */
  record RunTopics(String suffix) {
    String conversations() {
      return "sft.conversations" + suffix;
    }

    String examples() {
      return "sft.examples" + suffix;
    }

    String conversationsDlq() {
      return "sft.conversations.dlq" + suffix;
    }

    String examplesDlq() {
      return "sft.examples.dlq" + suffix;
    }

    String checkpoints() {
      return "sft.adapter-checkpoints" + suffix;
    }
  }

  /** A small random model in Hugging Face format with the bundled tokenizer and its license. */
  private Path generateModel(Path run) {
    Path dir = run.resolve("model");
    Path tokenizerJson = tokenizer.toAbsolutePath().normalize().resolve("tokenizer.json");
    if (!Files.isRegularFile(tokenizerJson)) {
      throw new IllegalArgumentException("--tokenizer: " + tokenizerJson + " does not exist (run"
          + " from the integration-tests directory, as `./mvnw -Plocal package` does, or pass"
          + " --tokenizer DIR or --model DIR)");
    }
    say("Generating a small random model (Qwen3 architecture, hidden %d, 2 layers) with the"
        + " tokenizer in %s ...", hidden, tokenizer.toAbsolutePath().normalize());
    int code = TrainerCli.commandLine().execute("init-model", "--arch", "qwen3", "--hidden", String.valueOf(hidden),
        "--layers", "2", "--heads", "4", "--kv-heads", "2", "--head-dim", String.valueOf(hidden / 4),
        "--intermediate", String.valueOf(2 * hidden), "--tokenizer", tokenizer.toAbsolutePath().normalize().toString(), "--out",
        dir.toString(), "--seed", "7", "--embedding-std", "1.0");
    if (code != 0) {
      throw new IllegalStateException("init-model failed (exit " + code + "); see above");
    }
    return dir;
  }

  private static void prepare(LocalServices services, RunTopics topics) {
    Map<String, Schema> named = new TreeMap<>();
    TOPICS.forEach((topic, schema) -> named.put(topic + topics.suffix(), schema));
    try (Admin admin = Admin.create(
        Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, services.bootstrapServers()))) {
      Topics.createAndAwait(admin,
          named.keySet().stream().map(t -> Topics.topic(t, 1)).toList(),
          Duration.ofSeconds(60));
    }
    say("Topics: %s", String.join(", ", named.keySet()));
    try (SchemaRegistryClient client = new SchemaRegistryClient(
        SchemaRegistryConfig.forUrl(services.registryUrl(), true))) {
      named.forEach((topic, schema) -> {
        int id = client.register(topic + "-value", schema);
        say("  registered %s-value (%s) as schema id %d", topic, schema.getName(), id);
      });
    }
  }

  private static Map<String, String> streamsConfig(LocalServices services, RunTopics topics,
      Path modelDir, Path run, String runId) {
    Map<String, String> c = new HashMap<>();
    c.put(StreamsAppConfig.BOOTSTRAP_SERVERS, services.bootstrapServers());
    c.put(SchemaRegistryConfig.URL, services.registryUrl());
    c.put(StreamsAppConfig.APPLICATION_ID, "sft-streams-local-" + runId);
    c.put(StreamsAppConfig.TOPIC_CONVERSATIONS, topics.conversations());
    c.put(StreamsAppConfig.TOPIC_EXAMPLES, topics.examples());
    c.put(StreamsAppConfig.TOPIC_DEAD_LETTERS, topics.conversationsDlq());
    c.put(StreamsAppConfig.MODEL_DIR, modelDir.toString());
    c.put(StreamsAppConfig.METRICS_PORT, String.valueOf(FreePorts.pick()));
    c.put(StreamsAppConfig.METRICS_HOST, "127.0.0.1");
    c.put("state.dir", run.resolve("streams-state").toString());
    c.put("commit.interval.ms", "200");
    return c;
  }

  /** Small steps and frequent checkpoints, so a few hundred conversations show a trend. */
  private Map<String, String> trainerConfig(LocalServices services, RunTopics topics, Path modelDir,
      String runId) {
    Map<String, String> c = new LinkedHashMap<>();
    c.put("bootstrap.servers", services.bootstrapServers());
    c.put("schema.registry.url", services.registryUrl());
    c.put("adapter.id", "default");
    c.put("group.id", "sft-trainer-local-" + runId);
    c.put("transactional.id", "sft-trainer-local-" + runId);
    c.put("topic.examples", topics.examples());
    c.put("topic.dead-letters", topics.examplesDlq());
    c.put("topic.checkpoints", topics.checkpoints());
    c.put("model.dir", modelDir.toString());
    c.put("lora.r", String.valueOf(loraR));
    c.put("lora.alpha", String.valueOf(2 * loraR));
    c.put("lora.dropout", "0.05");
    c.put("lora.target-modules", "all-linear");
    c.put("train.max-length", "1024");
    c.put("batch.token-budget", "2048");
    c.put("step.tokens", String.valueOf(stepTokens));
    c.put("optimizer.lr", String.valueOf(learningRate));
    c.put("lr.warmup-steps", "5");
    c.put("eval.fraction", String.valueOf(EVAL_FRACTION));
    c.put("checkpoint.every-steps", "20");
    c.put("metrics.port", String.valueOf(FreePorts.pick()));
    c.put("metrics.host", "127.0.0.1");
    c.put("progress.every-steps", "10");
    return c;
  }

  private static long produce(LocalServices services, RunTopics topics, Path conversations)
      throws IOException {
    long lines;
    try (var stream = Files.lines(conversations)) {
      lines = stream.filter(l -> !l.isBlank()).count();
    }
    say("Producing %d conversations from %s ...", lines, conversations);
    int code = StreamsAppCli.commandLine().execute("produce", "--bootstrap",
        services.bootstrapServers(), "--registry", services.registryUrl(), "--topic",
        topics.conversations(), "--input", conversations.toString());
    if (code != 0 && code != 3) {
      throw new IllegalStateException("producing the conversations failed (exit " + code + ")");
    }
    return lines;
  }

  public record Counts(long sent, long examples, long deadLetters, long duplicates) {}

  /** What a run ended with, as printed; kept for the test of this command. */
  public record Summary(Counts counts, int examplesRead, Map<String, Integer> deadLettersByReason,
      List<TrainerService.Published> checkpoints, double heldOutLossBefore,
      double heldOutLossAfter, int heldOutExamples, Path adapter, Map<String, String> before,
      Map<String, String> after) {}

  private Summary summary;

  public Summary summary() {
    return summary;
  }

  /**
   * Prints progress until the streams app has processed every line and the trainer has
   * published a checkpoint through the end of the examples topic.
   */
  private Counts await(MeterRegistry streams, TrainerService trainer,
      CompletableFuture<Void> training, List<TrainerService.Published> published,
      LocalServices services, RunTopics topics, long lines) {
    Instant deadline = Instant.now().plus(Duration.ofMinutes(timeoutMinutes));
    String last = "";
    try (var consumer = new KafkaConsumer<>(Map.<String, Object>of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, services.bootstrapServers(),
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"),
        new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      TopicPartition examples = new TopicPartition(topics.examples(), 0);
      while (true) {
        if (training.isCompletedExceptionally()) {
          training.join(); // rethrows why the trainer stopped
        }
        double accepted = streams.get("sft.conversations.accepted").counter().count();
        double duplicates = streams.get("sft.conversations.duplicates").counter().count();
        double rejected = streams.get("sft.conversations.rejected").counters().stream()
            .mapToDouble(c -> c.count()).sum();
        long processed = (long) (accepted + duplicates + rejected);
        long end = consumer.endOffsets(List.of(examples)).get(examples);
        TrainerService.Published newest = published.isEmpty() ? null : published.getLast();
        long trainedThrough = newest == null ? 0 : newest.offsets().getOrDefault(examples, 0L);
        String line = String.format("[progress] conversations %d/%d -> %.0f examples, %.0f dead"
            + " letters, %.0f duplicates | trainer through %d/%d examples, %d checkpoints",
            processed, lines, accepted, rejected, duplicates, trainedThrough, end,
            published.size());
        if (!line.equals(last)) {
          say(line);
          last = line;
        }
        if (processed >= lines && end > 0 && trainedThrough >= end) {
          return new Counts(lines, (long) accepted, (long) rejected, (long) duplicates);
        }
        if (Instant.now().isAfter(deadline)) {
          throw new IllegalStateException(String.format("not drained after %d minutes: the"
              + " streams app processed %d of %d conversations, the trainer's last checkpoint is"
              + " at offset %d of %d (raise --timeout-minutes, or see the logs above)",
              timeoutMinutes, processed, lines, trainedThrough, end));
        }
        sleep(1000);
      }
    }
  }

  private static Path pull(LocalServices services, RunTopics topics, Path run) {
    Path out = run.resolve("adapter");
    say("Pulling the newest adapter from %s ...", topics.checkpoints());
    int code = TrainerCli.commandLine().execute("pull", "--bootstrap", services.bootstrapServers(),
        "--registry", services.registryUrl(), "--topic", topics.checkpoints(), "--adapter",
        "default", "--out", out.toString());
    if (code != 0) {
      throw new IllegalStateException("pull failed (exit " + code + "); see above");
    }
    return out;
  }

  private static Summary summarize(LocalServices services, RunTopics topics, Counts counts,
      List<TrainerService.Published> published, Path modelDir, Path adapter,
      Map<String, String> before, Instant started) {
    try (SchemaRegistryClient client = new SchemaRegistryClient(
        SchemaRegistryConfig.forUrl(services.registryUrl(), false))) {
      List<SftExample> examples = readAll(services, topics.examples(),
          AvroDeserializer.specific(SftExample.class, client), counts.examples());
      List<Rejection> dead = readAll(services, topics.conversationsDlq(),
          AvroDeserializer.specific(Rejection.class, client), counts.deadLetters());
      Map<String, Integer> byReason = new TreeMap<>();
      dead.forEach(r -> byReason.merge(r.getReason().name(), 1, Integer::sum));
      List<Batch.Example> heldOut = examples.stream()
          .filter(e -> TrainerService.heldOut(e.getConversationId(), EVAL_FRACTION))
          .map(e -> Batch.Example.of(e.getInputIds(), e.getLabels()))
          .toList();
      double baseLoss;
      double adaptedLoss;
      Map<String, String> after;
      try (NDManager params = NDManager.newBaseManager()) {
        try (ChatSession base = ChatSession.open(modelDir, null, params)) {
          baseLoss = base.meanLoss(heldOut);
        }
        try (ChatSession adapted = ChatSession.open(modelDir, adapter, params)) {
          adaptedLoss = adapted.meanLoss(heldOut);
          after = replies(adapted);
        }
      }
      TrainerService.Published first = published.getFirst();
      TrainerService.Published last = published.getLast();
      long tokens = examples.stream().mapToLong(e -> e.getInputIds().size()).sum();
      say("");
      say("Summary (read back from Kafka with read_committed):");
      say("  conversations in:    %d", counts.sent());
      say("  examples:            %d (%d tokens)", examples.size(), tokens);
      say("  dead letters:        %d %s", dead.size(), byReason);
      say("  duplicates dropped:  %d", counts.duplicates());
      say("  examples + dead letters + duplicates = %d of %d in", examples.size() + dead.size()
          + counts.duplicates(), counts.sent());
      say("  trained:             %d steps, %d examples, %d tokens (the rest held out for eval)",
          last.step(), last.examplesTrained(), last.tokensTrained());
      say("  checkpoints:         %d (eval loss %s -> %s at v%d)", published.size(),
          format(first.evalLoss()), format(last.evalLoss()), last.version());
      if (heldOut.isEmpty()) {
        say("  held-out loss:       n/a (no conversation fell in the %.0f %% held-out slice)",
            EVAL_FRACTION * 100);
      } else {
        say("  held-out loss:       %.4f before -> %.4f after (%d examples never trained on)",
            baseLoss, adaptedLoss, heldOut.size());
      }
      say("  adapter (PEFT):      %s", adapter);
      say("  took:                %s", human(Duration.between(started, Instant.now())));
      say("");
      say("Replies before -> after training (greedy):");
      for (String prompt : PROMPTS) {
        say("  user:   %s", prompt);
        say("  before: %s", oneLine(before.get(prompt)));
        say("  after:  %s", oneLine(after.get(prompt)));
      }
      return new Summary(counts, examples.size(), byReason, published, baseLoss, adaptedLoss,
          heldOut.size(), adapter, before, after);
    }
  }

  private static Map<String, String> replies(Path modelDir, Path adapter) {
    try (NDManager params = NDManager.newBaseManager();
        ChatSession session = ChatSession.open(modelDir, adapter, params)) {
      return replies(session);
    }
  }

  private static Map<String, String> replies(ChatSession session) {
    Map<String, String> out = new LinkedHashMap<>();
    for (String prompt : PROMPTS) {
      List<Map<String, Object>> chat = List.of(Map.of("role", "user", "content", prompt));
      out.put(prompt, session.reply(chat, 24, 0, 0));
    }
    return out;
  }

  /** Reads {@code topic} from the start until {@code expected} records arrived or 30 s passed. */
  private static <T> List<T> readAll(LocalServices services, String topic,
      Deserializer<T> values, long expected) {
    try (var consumer = new KafkaConsumer<>(Map.<String, Object>of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, services.bootstrapServers(),
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"),
        new ByteArrayDeserializer(), values)) {
      TopicPartition partition = new TopicPartition(topic, 0);
      consumer.assign(List.of(partition));
      consumer.seekToBeginning(List.of(partition));
      List<T> out = new ArrayList<>();
      Instant deadline = Instant.now().plusSeconds(30);
      while (out.size() < expected && Instant.now().isBefore(deadline)) {
        for (ConsumerRecord<byte[], T> r : consumer.poll(Duration.ofMillis(200))) {
          out.add(r.value());
        }
      }
      return out;
    }
  }

  private static Path bundledSample(Path run) throws IOException {
    Path target = run.resolve("conversations.jsonl");
    try (InputStream in = LocalStackMain.class.getResourceAsStream("/samples/conversations.jsonl")) {
      Files.copy(in, target);
    }
    return target;
  }

  private static String format(double loss) {
    return Double.isFinite(loss) ? String.format("%.4f", loss) : "n/a";
  }

  private static String oneLine(String text) {
    String s = text.replace("\n", "\\n");
    return s.length() > 100 ? s.substring(0, 100) + "..." : s;
  }

  private static String human(Duration d) {
    return String.format("%d min %02d s", d.toMinutes(), d.toSecondsPart());
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  static void say(String format, Object... args) {
    System.out.println(args.length == 0 ? format : String.format(format, args));
  }
}
