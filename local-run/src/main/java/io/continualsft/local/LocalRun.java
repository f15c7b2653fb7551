package io.continualsft.local;

import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.streams.StreamsApp;
import io.continualsft.streams.config.StreamsAppConfig;
import io.continualsft.chat.dataset.DatasetFormat;
import io.continualsft.streams.produce.ConversationFileProducer;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointReader;
import io.continualsft.trainer.checkpoint.PeftDirectory;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.model.ModelConfig;
import io.continualsft.trainer.model.ModelFactory;
import io.continualsft.trainer.release.ReleaseLog;
import io.continualsft.trainer.report.RunReport;
import io.continualsft.trainer.report.RunReportHtml;
import io.continualsft.trainer.service.Published;
import io.continualsft.trainer.service.TrainerService;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The local default, continual SFT end to end on one machine: the real broker and registry (or
 * the user's), a small generated model with the bundled Qwen3 tokenizer (or the user's model),
 * the streams app and the trainer in this JVM, the bundled conversations (or the user's JSONL),
 * progress while it runs, then the newest adapter pulled from Kafka, a summary and replies from
 * the model before and after. It calls the services' own classes, not their command lines.
 */
final class LocalRun {
  /** Held out from training (by a hash of the conversation id) and scored before and after. */
  static final double EVAL_FRACTION = 0.1;

  /** What the user chose; null paths and cluster addresses mean "the project's own". */
  record Options(Path workDir, Path model, Path tokenizer, Path input, Path retention,
      String bootstrap,
      String registryUrl, Map<String, String> clientProperties, double learningRate, int loraR,
      int hidden, int stepTokens, double replay, long timeoutMinutes, boolean keepRunning) {}

  /** The generated model's embedding std (see {@link #generateModel}). */
  static final double EMBEDDING_STD = 0.3;

  private final Options options;

  LocalRun(Options options) {
    this.options = options;
  }

  RunSummary.Summary run() throws Exception {
    Instant started = Instant.now();
    String runId = String.valueOf(started.toEpochMilli());
    Path run = options.workDir().resolve(runId).toAbsolutePath().normalize();
    Files.createDirectories(run);
    Path conversations = options.input() != null ? options.input().toAbsolutePath()
        : bundled(run, "conversations.jsonl");
    Path retention = options.retention() != null ? options.retention().toAbsolutePath()
        : options.input() == null ? bundled(run, "retention.jsonl") : null;
    Path modelDir = options.model() != null ? options.model().toAbsolutePath().normalize()
        : generateModel(run);
    say("Work directory: %s", run);

    RunSummary.Summary summary;
    try (LocalServices services = LocalServices.start(options.bootstrap(),
        options.registryUrl(), options.clientProperties(), run)) {
      // On a cluster of the user's own, a run gets its own topics, so a rerun starts clean.
      RunTopics topics = new RunTopics(services.embedded() ? "" : ".local-" + runId);
      topics.create(services);
      Map<String, String> before = Replies.of(modelDir, null);

      Map<String, String> streamsConfig = streamsConfig(services, topics, modelDir, run, runId);
      TrainerSettings trainerSettings = trainerSettings(services, topics, modelDir, runId,
          retention);
      List<Published> published = new CopyOnWriteArrayList<>();
      say("Starting the streams app (labels with the chat template of %s) ...", modelDir);
      try (StreamsApp app = StreamsApp.start(StreamsAppConfig.of(streamsConfig))) {
        say("  metrics: http://127.0.0.1:%d/metrics  health: http://127.0.0.1:%1$d/health",
            app.metricsPort());
        long lines = produce(services, topics, conversations);
        // The trainer starts once the streams app has labelled everything and committed it: a
        // trainer that catches up with the topic mid-stream trains the partial step it has (as
        // it should live), which would make the demo's steps, and so its numbers, depend on
        // timing.
        ProgressWatch.awaitStreams(app.metrics(), lines, services.kafka(Map.of()),
            topics.examples(), Duration.ofMinutes(options.timeoutMinutes()));
        say("Starting the trainer (LoRA r=%d on all-linear, lr %s, replay %s; releases gated on"
            + " held-out data%s) ...", options.loraR(), options.learningRate(), options.replay(),
            retention == null ? "" : " and the retention set " + retention.getFileName());
        TrainerService trainer = TrainerService.create(trainerSettings);
        trainer.onPublished(published::add);
        List<RunReport.Step> steps = new CopyOnWriteArrayList<>();
        long trainStarted = System.nanoTime();
        long[] tokens = {0};
        trainer.onStep((adapter, result) -> {
          tokens[0] += result.trainedTokens();
          steps.add(new RunReport.Step(result.step(), result.loss(),
              tokens[0] / Math.max(1e-3, (System.nanoTime() - trainStarted) / 1e9)));
        });
        AtomicBoolean stop = new AtomicBoolean();
        CompletableFuture<Void> training = CompletableFuture.runAsync(() -> trainer.run(stop::get));
        try {
          say("  metrics: http://127.0.0.1:%d/metrics  health: http://127.0.0.1:%1$d/health",
              trainer.metricsPort());
          RunSummary.Counts counts = new ProgressWatch(app.metrics(), training, published,
              Duration.ofMinutes(options.timeoutMinutes()))
              .await(services.kafka(Map.of()), topics.examples(), lines);
          Path adapter = pull(services, topics, run);
          summary = RunSummary.read(services, topics, counts, List.copyOf(published), modelDir,
              adapter, before, EVAL_FRACTION);
          summary.print(started);
          Path report = RunReportHtml.write(report(summary, steps, trainerSettings),
              run.resolve("report.html"));
          say("Report: %s (open it in a browser)", report.toAbsolutePath());
          if (options.keepRunning()) {
            keepRunning(services, topics);
          }
        } finally {
          stop.set(true);
          say("Stopping the trainer, the streams app%s.",
              services.embedded() ? ", the registry and the broker" : "");
          try {
            training.get(60, TimeUnit.SECONDS);
          } catch (ExecutionException e) { // already reported by the watch, if it got that far
            say("The trainer had stopped with: %s", e.getCause());
          } catch (TimeoutException e) {
            say("The trainer did not stop within 60 s; closing it.");
          } finally {
            trainer.close();
          }
        }
      }
    }
    say("Done in %s; nothing of this run is left running.",
        human(Duration.between(started, Instant.now())));
    return summary;
  }

  /** A small random model in Hugging Face format with the bundled tokenizer and its license. */
  private Path generateModel(Path run) {
    Path dir = run.resolve("model");
    Path tokenizer = options.tokenizer().toAbsolutePath().normalize();
    if (!Files.isRegularFile(tokenizer.resolve("tokenizer.json"))) {
      throw new IllegalArgumentException("--tokenizer: " + tokenizer.resolve("tokenizer.json")
          + " does not exist (run from the local-run directory, as `./mvnw -Plocal package`"
          + " does, or pass --tokenizer DIR or --model DIR)");
    }
    int hidden = options.hidden();
    say("Generating a small random model (Qwen3 architecture, hidden %d, 2 layers) with the"
        + " tokenizer in %s ...", hidden, tokenizer);
    int vocab = ModelFactory.vocabSize(tokenizer.resolve("tokenizer.json"));
    ModelConfig config = ModelConfig.of("qwen3", vocab, hidden, 2 * hidden, 2, 4, 2, hidden / 4,
        true);
    // An embedding std between transformers' 0.02 and 1.0: at 0.02 the tied head's logits
    // cannot separate one token from 150,000 by more than a few nats whatever the adapter does
    // (the base's norms are frozen), and at 1.0 they start at random peaks of 100 nats; at 0.3
    // the adapter brings the held-out loss below 0.2 in the run's time.
    ModelFactory.write(dir, config, 7, EMBEDDING_STD, tokenizer);
    say("  %,d parameters (vocab %d), written to %s", config.parameterCount(), vocab, dir);
    return dir;
  }

  private static Map<String, String> streamsConfig(LocalServices services, RunTopics topics,
      Path modelDir, Path run, String runId) {
    Map<String, String> c = new HashMap<>(services.clientProperties());
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
    // One transaction for the whole sample: the trainer's replay draws by offset, and where
    // the commit markers fall (with a short interval: wherever the clock cut the stream) would
    // change which examples a draw lands on, and so the run's numbers, from run to run. The
    // sample is labelled in a few seconds; the commit after 15 s makes it visible at once.
    c.put("commit.interval.ms", "15000");
    c.put("producer.transaction.timeout.ms", "60000");
    return c;
  }

  /** Small steps and frequent checkpoints, so a few hundred conversations show a trend. */
  private TrainerSettings trainerSettings(LocalServices services, RunTopics topics,
      Path modelDir, String runId, Path retention) {
    TrainerSettings.Builder b = TrainerSettings.builder();
    services.clientProperties().forEach(b::set); // the registry's keys, and the clients'
    return b
        .set(TrainerConfig.BOOTSTRAP_SERVERS, services.bootstrapServers())
        .set(TrainerConfig.REGISTRY_URL, services.registryUrl())
        .set(TrainerConfig.ADAPTER, "default")
        .set(TrainerConfig.GROUP_ID, "sft-trainer-local-" + runId)
        .set(TrainerConfig.TRANSACTIONAL_ID, "sft-trainer-local-" + runId)
        .set(TrainerConfig.TOPIC_EXAMPLES, topics.examples())
        .set(TrainerConfig.TOPIC_DEAD_LETTERS, topics.examplesDlq())
        .set(TrainerConfig.TOPIC_CHECKPOINTS, topics.checkpoints())
        .set(TrainerConfig.TOPIC_RELEASES, topics.releases())
        .set(TrainerConfig.ERASURE_TOPIC, topics.erasureRequests())
        .set(TrainerConfig.RETENTION_FILE, Optional.ofNullable(retention))
        .set(TrainerConfig.MODEL_DIR, modelDir)
        .set(TrainerConfig.LORA_R, options.loraR())
        .set(TrainerConfig.LORA_ALPHA, 2.0 * options.loraR())
        .set(TrainerConfig.LORA_DROPOUT, 0.05)
        .set(TrainerConfig.LORA_TARGET_MODULES, List.of("all-linear"))
        .set(TrainerConfig.MAX_LENGTH, 1024)
        .set(TrainerConfig.TOKEN_BUDGET, 2048)
        .set(TrainerConfig.STEP_TOKENS, options.stepTokens())
        .set(TrainerConfig.LEARNING_RATE, options.learningRate())
        .set(TrainerConfig.WARMUP_STEPS, 5)
        .set(TrainerConfig.EVAL_FRACTION, EVAL_FRACTION)
        .set(TrainerConfig.CHECKPOINT_EVERY_STEPS, 20)
        .set(TrainerConfig.METRICS_PORT, FreePorts.pick())
        .set(TrainerConfig.METRICS_HOST, "127.0.0.1")
        .set(TrainerConfig.PROGRESS_EVERY_STEPS, 10)
        .set(TrainerConfig.REPLAY_FRACTION, options.replay())
        // The demo's 20M-parameter model gains nothing from bf16, and fp32 prints the same
        // numbers on every CPU (the README's summary among them).
        .set(TrainerConfig.PRECISION, "fp32")
        .build();
  }

  /** The run as {@code report} draws it: steps, checkpoints and their decisions, dead letters. */
  static RunReport report(RunSummary.Summary summary, List<RunReport.Step> steps,
      TrainerSettings settings) {
    List<RunReport.Checkpoint> checkpoints = new java.util.ArrayList<>();
    for (Published p : summary.checkpoints()) {
      RunReport.Decision decision = p.released() ? RunReport.Decision.RELEASED
          : switch (p.reason()) {
            case HELD -> RunReport.Decision.HELD;
            case MANUAL_POLICY -> RunReport.Decision.NOT_JUDGED;
            default -> RunReport.Decision.REFUSED;
          };
      checkpoints.add(new RunReport.Checkpoint("v" + p.version(), p.step(), p.evalLoss(),
          p.retentionLoss(), decision, p.gate(), p.examplesTrained(), p.examplesReplayed()));
    }
    Map<String, Long> dead = new java.util.TreeMap<>();
    summary.deadLettersByReason().forEach((reason, n) -> dead.put(reason, (long) n));
    Path model = settings.model().dir();
    return new RunReport("The local run: adapter default", List.of(
        "model " + (model.getParent() == null ? model
            : model.getParent().getFileName().resolve(model.getFileName())),
        "LoRA r=" + settings.lora().r() + " on " + settings.lora().targetModules() + ", lr "
            + settings.optimizer().learningRate() + ", replay " + settings.replay().fraction(),
        String.format("held-out loss %.4f before, %.4f after (%d examples never trained on)",
            summary.heldOutLossBefore(), summary.heldOutLossAfter(), summary.heldOutExamples()),
        "dead letters are the streams app's (the trainer refused none)"), steps, checkpoints,
        dead);
  }

  private static long produce(LocalServices services, RunTopics topics, Path conversations)
      throws Exception {
    long lines;
    try (var stream = Files.lines(conversations)) {
      lines = stream.filter(l -> !l.isBlank()).count();
    }
    say("Producing %d conversations from %s ...", lines, conversations);
    ConversationFileProducer.Result result;
    try (ConversationFileProducer producer = ConversationFileProducer.open(
        services.bootstrapServers(), services.registryConfig(true),
        new java.util.LinkedHashMap<>(services.clientProperties()))) {
      result = producer.send(conversations, DatasetFormat.AUTO, topics.conversations(),
          "default", (done, read, size) -> { });
    }
    if (result.failure() != null) {
      throw new IllegalStateException("producing the conversations failed: "
          + result.failure().getMessage(), result.failure());
    }
    result.skipped().forEach(s -> say("  line %d: %s, skipped", s.line(), s.reason()));
    say("  %d conversations sent to %s, %d lines skipped", result.sent(), topics.conversations(),
        result.skipped().size());
    return lines;
  }

  /** Pulls the released version, as serving would: `pull` without --candidates. */
  private static Path pull(LocalServices services, RunTopics topics, Path run) {
    Path out = run.resolve("adapter");
    say("Pulling the released adapter (%s, %s) ...", topics.releases(), topics.checkpoints());
    long version;
    try (ReleaseLog releases = ReleaseLog.open(services.bootstrapServers(),
        services.registryConfig(false), topics.releases(),
        new java.util.LinkedHashMap<>(services.clientProperties()))) {
      version = releases.current("default").orElseThrow(() -> new IllegalStateException(
          "no candidate of adapter default was released (see the refusals above)")).getVersion();
    }
    try (CheckpointReader reader = CheckpointReader.open(services.bootstrapServers(),
        services.registryConfig(false), topics.checkpoints(),
        new java.util.LinkedHashMap<>(services.clientProperties()))) {
      Checkpoint released = reader.version("default", version).orElseThrow(() ->
          new IllegalStateException("the released v" + version + " is not complete on "
              + topics.checkpoints()));
      PeftDirectory.write(released, out);
      say("  v%d (step %d, %d examples, eval loss %s) to %s", released.version(),
          released.manifest().getStep(), released.manifest().getExamplesTrained(),
          released.manifest().getMetrics().getOrDefault("eval_loss", Double.NaN), out);
    }
    return out;
  }

  private static void keepRunning(LocalServices services, RunTopics topics)
      throws InterruptedException {
    say("");
    say("Everything keeps running. Produce more with: java -jar"
        + " streams-app/target/streams-app.jar produce --bootstrap %s --registry %s"
        + " --topic %s --input FILE. Ctrl-C stops it all.", services.bootstrapServers(),
        services.registryUrl(), topics.conversations());
    CountDownLatch forever = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(forever::countDown));
    forever.await();
  }

  /** A bundled sample file, copied into the run's directory. */
  private static Path bundled(Path run, String name) throws IOException {
    Path target = run.resolve(name);
    try (InputStream in = LocalRun.class.getResourceAsStream("/samples/" + name)) {
      Files.copy(in, target);
    }
    return target;
  }

  static String human(Duration d) {
    return String.format("%d min %02d s", d.toMinutes(), d.toSecondsPart());
  }

  static void say(String format, Object... args) {
    System.out.println(args.length == 0 ? format : String.format(format, args));
  }
}
