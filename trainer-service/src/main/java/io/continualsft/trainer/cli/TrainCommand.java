package io.continualsft.trainer.cli;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.continualsft.avro.Conversation;
import io.continualsft.avro.SftExample;
import io.continualsft.chat.dataset.DatasetFile;
import io.continualsft.chat.dataset.DatasetFormat;
import io.continualsft.chat.dataset.DatasetRecords;
import io.continualsft.chat.dataset.InvalidRecordException;
import io.continualsft.chat.labels.AssistantLabeler;
import io.continualsft.chat.labels.ExampleLabeler;
import io.continualsft.chat.labels.LabelContract;
import io.continualsft.chat.labels.LabelingKeys;
import io.continualsft.chat.labels.RejectedException;
import io.continualsft.runtime.config.ClientConfigFile;
import io.continualsft.runtime.config.LayeredConfig;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.trainer.checkpoint.CheckpointFiles;
import io.continualsft.trainer.checkpoint.CheckpointPublisher;
import io.continualsft.trainer.checkpoint.CheckpointReader;
import io.continualsft.trainer.checkpoint.TrainingState;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.Engines;
import io.continualsft.trainer.model.ModelIdentity;
import io.continualsft.trainer.service.FileTraining;
import io.continualsft.trainer.train.AdapterTraining;
import io.continualsft.trainer.train.LoraTrainer;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.producer.KafkaProducer;
import picocli.CommandLine;
import io.continualsft.runtime.progress.ProgressLine;
import io.continualsft.trainer.report.RunReport;
import io.continualsft.trainer.report.RunReportHtml;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Bootstrapping an adapter from a dataset file, with the service's own training. The training
 * options are the trainer's configuration keys under other names (each option's {@code
 * descriptionKey} is its key): their defaults are the key table's ({@link TrainerConfig}), and
 * their values reach the settings through it, so nothing here repeats them.
 */
@Command(name = "train", mixinStandardHelpOptions = true,
    defaultValueProvider = TrainCommand.KeyDefaults.class,
    description = "Trains a LoRA adapter from a dataset file (conversations in any format"
        + " `streams-app produce` reads, JSONL or a JSON array, plain or gzip; or `streams-app"
        + " mask` output) with the service's labelling, admission, batching and step, and writes"
        + " it as a PEFT directory.")
final class TrainCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** An option whose {@code descriptionKey} is a trainer key defaults to that key's default. */
  static final class KeyDefaults implements CommandLine.IDefaultValueProvider {
    @Override
    public String defaultValue(CommandLine.Model.ArgSpec arg) {
      String key = arg instanceof CommandLine.Model.OptionSpec o ? o.descriptionKey() : "";
      LayeredConfig.Key k = key.isEmpty() ? null : TrainerConfig.KEYS.get(key);
      return k == null ? null : k.defaultValue();
    }
  }

  @Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--model", required = true, description = "The base model directory.")
  Path model;

  @Option(names = "--input", required = true, description = "Conversations (JSONL or a JSON"
      + " array, plain or gzip), or the labelled lines of `streams-app mask`.") Path input;

  @Option(names = "--format", defaultValue = "auto", description = "auto, conversations,"
      + " messages, sharegpt, openai or alpaca, as for `streams-app produce` (default:"
      + " ${DEFAULT-VALUE}).") String format;

  @Option(names = "--labels-config", description = "A properties file with the labelling rules"
      + " (labels.*, validation.*, model.chat-template-name), such as the streams app's own"
      + " configuration, so conversations are labelled as the stream labels them; other keys"
      + " are ignored (default: the keys' defaults).") Path labelsConfig;

  @Option(names = "--reasoning", description = "train or exclude an assistant turn's reasoning;"
      + " overrides labels.reasoning.") String reasoning;

  @Option(names = "--output", required = true, description = "The PEFT adapter directory to"
      + " write.") Path output;

  @Option(names = "--report", description = "The run's report, one self-contained HTML file"
      + " (loss per step, eval loss per epoch, throughput, refused examples); default:"
      + " report.html beside the adapter's files in --output.")
  Path report;

  @Option(names = "--eval-file", description = "More examples to evaluate on (same formats).")
  Path evalFile;

  @Option(names = "--eval-fraction", descriptionKey = "eval.fraction", description = "Share of"
      + " conversations held out by id hash, as the service does (default: ${DEFAULT-VALUE}).")
  String evalFraction;

  @Option(names = "--lora-r", descriptionKey = "lora.r",
      description = "LoRA rank (default: ${DEFAULT-VALUE}).") String loraR;

  @Option(names = "--lora-alpha", descriptionKey = "lora.alpha",
      description = "lora_alpha (default: ${DEFAULT-VALUE}).") String loraAlpha;

  @Option(names = "--lora-dropout", descriptionKey = "lora.dropout",
      description = "lora_dropout (default: ${DEFAULT-VALUE}).") String loraDropout;

  @Option(names = "--target-modules", descriptionKey = "lora.target-modules",
      description = "Comma-separated modules, or all-linear (default: ${DEFAULT-VALUE}).")
  String targetModules;

  @Option(names = "--lr", descriptionKey = "optimizer.lr",
      description = "Peak learning rate (default: ${DEFAULT-VALUE}).") String learningRate;

  @Option(names = "--warmup-steps", descriptionKey = "lr.warmup-steps",
      description = "Linear warm-up steps (default: ${DEFAULT-VALUE}).") String warmupSteps;

  @Option(names = "--step-tokens", descriptionKey = "step.tokens",
      description = "Trained tokens per optimizer step (default: ${DEFAULT-VALUE}).")
  String stepTokens;

  @Option(names = "--max-length", descriptionKey = "train.max-length",
      description = "Longer examples are not trained (default: ${DEFAULT-VALUE}).")
  String maxLength;

  @Option(names = "--token-budget", descriptionKey = "batch.token-budget", description = "Tokens"
      + " computed per micro-batch, padding included (default: ${DEFAULT-VALUE}).")
  String tokenBudget;

  @Option(names = "--pack", description = "Pack several examples per row.") boolean pack;

  @Option(names = "--precision", descriptionKey = "train.precision", description = "The base"
      + " weights' precision: auto, fp32, bf16 or fp16 (default: ${DEFAULT-VALUE}: bf16 where"
      + " the device multiplies it natively).") String precision;

  @Option(names = "--recompute", descriptionKey = "train.recompute", description = "Recompute"
      + " activations in backward: auto, on or off (default: ${DEFAULT-VALUE}).")
  String recompute;

  @Option(names = "--attention-block", descriptionKey = "train.attention-block",
      description = "Queries per attention block for longer rows (default: ${DEFAULT-VALUE}).")
  String attentionBlock;

  @Option(names = "--epochs", defaultValue = "1") int epochs;

  @Option(names = "--seed", descriptionKey = "seed",
      description = "Seed of the adapter's initialisation and dropout (default:"
          + " ${DEFAULT-VALUE}).") String seed;

  @Option(names = "--model-name", descriptionKey = "model.name",
      description = "base_model_name_or_path in adapter_config.json (default: --model).")
  String modelName;

  @Option(names = "--device", descriptionKey = "device",
      description = "cpu, gpu or auto (default: ${DEFAULT-VALUE}).") String device;

  @Option(names = "--publish", description = "Also publish the result to the checkpoint topic"
      + " as version 1 of --adapter (a candidate), so the service starts from it; needs"
      + " --bootstrap and --registry, and refuses an adapter that has checkpoints already.")
  boolean publish;

  @Option(names = "--adapter", descriptionKey = "adapter.id",
      description = "With --publish: the adapter id (default: ${DEFAULT-VALUE}).") String adapter;

  @Option(names = "--bootstrap", description = "With --publish: Kafka bootstrap servers.")
  String bootstrap;

  @Option(names = "--registry", description = "With --publish: schema registry URL.")
  String registry;

  @Option(names = "--client-config", description = "With --publish: Kafka client and registry"
      + " properties (security).") Path clientConfig;

  @Option(names = "--topic", descriptionKey = "topic.checkpoints",
      description = "With --publish: the checkpoint topic (default: ${DEFAULT-VALUE}).")
  String topic;

  @Override
  public Integer call() throws IOException {
    if (epochs < 1) {
      throw new IllegalArgumentException("--epochs must be >= 1, got " + epochs);
    }
    Map<String, String> client = null;
    if (publish) {
      if (bootstrap == null) {
        throw new IllegalArgumentException("--publish needs --bootstrap");
      }
      client = ClientConfigFile.read(clientConfig);
      if (registry != null) {
        client.put(SchemaRegistryConfig.URL, registry);
      }
      client.putIfAbsent(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS, "false");
      refuseIfPublished(client); // before hours of training, not after
    }
    TrainerSettings settings = settings();
    ModelIdentity identity = ModelIdentity.of(model, settings.model().baseModelName());
    DatasetFormat datasetFormat = DatasetFormat.parse(format);
    List<SftExample> examples;
    List<Batch.Example> eval;
    try (ExampleLabeler labeler = ExampleLabeler.open(model, settings.labels().templateName(),
        settings.labels().rules(), Clock.systemUTC())) {
      examples = read(input, labeler, identity, settings.adapter(), datasetFormat);
      eval = evalFile == null ? List.of() : read(evalFile, labeler, identity,
          settings.adapter(), datasetFormat).stream()
          .map(e -> Batch.Example.of(e.getInputIds(), e.getLabels())).toList();
    }
    long estimate = FileTraining.estimateSteps(examples, settings.steps()) * epochs;
    System.out.printf("train: %d examples from %s, about %d steps over %d epoch(s)%n",
        examples.size(), input, estimate, epochs);
    Instant started = Instant.now();
    FileTraining.Result result;
    Map<String, float[]> moments;
    long optimizerSteps;
    List<RunReport.Step> reportSteps = new ArrayList<>();
    List<RunReport.Checkpoint> reportEpochs = new ArrayList<>();
    long[] lastExamples = {0};
    try (AdapterTraining training = AdapterTraining.open(settings,
        NDManager.newBaseManager(Engines.device(settings.model().device())))) {
      System.out.printf("train: %s; model loaded in %.1f s%n", training.plan().describe(),
          Duration.between(started, Instant.now()).toMillis() / 1000.0);
      result = FileTraining.train(settings, training, identity, examples, eval, epochs,
          new FileTraining.Progress() {
            private long lastPrint = -1;
            private final ProgressLine bar = ProgressLine.isTerminal()
                ? ProgressLine.on(System.out) : null;

            @Override
            public void stepped(LoraTrainer.StepResult r, long examplesTrained,
                long tokensTrained) {
              Duration elapsed = Duration.between(started, Instant.now());
              double tokensPerSecond = tokensTrained / Math.max(1e-3,
                  elapsed.toMillis() / 1000.0);
              reportSteps.add(new RunReport.Step(r.step(), r.loss(), tokensPerSecond));
              lastExamples[0] = examplesTrained;
              long seconds = elapsed.toSeconds();
              if (seconds == lastPrint && r.step() < estimate) {
                return; // at most a line a second
              }
              lastPrint = seconds;
              String status = String.format("step %d/~%d | examples %d | %.0f tokens/s | loss"
                  + " %.4f | lr %.2e", r.step(), estimate, examplesTrained, tokensPerSecond,
                  r.loss(), r.learningRate());
              if (bar != null) { // a terminal: one line redrawn, the bar's own ETA
                bar.update((double) r.step() / Math.max(r.step(), estimate), status);
                return;
              }
              Duration eta = FileTraining.eta(elapsed, r.step(), estimate);
              System.out.printf("%s | ETA %d:%02d%n", status, eta.toMinutes(),
                  eta.toSecondsPart());
            }

            @Override
            public void epoch(int epoch, double evalLoss, int evalExamples) {
              if (bar != null) {
                bar.done();
              }
              System.out.printf("epoch %d | eval loss %.4f on %d held-out examples%n", epoch,
                  evalLoss, evalExamples);
              reportEpochs.add(new RunReport.Checkpoint("epoch " + epoch,
                  reportSteps.isEmpty() ? 0 : reportSteps.getLast().step(), evalLoss,
                  Double.NaN, RunReport.Decision.NOT_JUDGED, evalExamples + " held-out examples",
                  lastExamples[0], 0));
            }
          });
      moments = training.moments();
      optimizerSteps = training.optimizerSteps();
    }
    result.refused().forEach(r -> System.out.printf("  example %d: %s, not trained%n",
        r.index() + 1, r.reason()));
    result.adapter().write(output);
    double seconds = Duration.between(started, Instant.now()).toMillis() / 1000.0;
    System.out.printf("wrote %s: %d steps, %d examples, eval loss %.4f%n", output, result.steps(),
        result.examplesTrained(), result.evalLoss());
    if (publish) {
      publish(client, settings, identity, result, moments, optimizerSteps);
    }
    System.out.printf("trained %d tokens in %.1f s: %.0f trained tokens/s%n",
        result.tokensTrained(), seconds, result.tokensTrained() / seconds);
    Map<String, Long> refusedByReason = new java.util.TreeMap<>();
    result.refused().forEach(r -> refusedByReason.merge(r.reason().replaceFirst(":.*", ""), 1L,
        Long::sum));
    RunReport runReport = new RunReport("train: " + input.getFileName() + " on "
        + model.getFileName(), List.of("model " + model, "input " + input, "LoRA r=" + loraR
            + " on " + targetModules + ", lr " + learningRate + ", " + epochs + " epoch(s)",
        String.format("%d steps, %d examples, %d tokens in %.1f s", result.steps(),
            result.examplesTrained(), result.tokensTrained(), seconds)),
        reportSteps, reportEpochs, refusedByReason);
    Path written = RunReportHtml.write(runReport, report != null ? report
        : output.resolve("report.html"));
    System.out.println("report: " + written.toAbsolutePath());
    return 0;
  }

  /**
   * The settings the options give, through the trainer's key table: each option with a trainer
   * key as its {@code descriptionKey} sets that key; the labelling keys come from {@code
   * --labels-config}. No broker or registry is contacted: the Kafka keys are placeholders.
   */
  TrainerSettings settings() {
    TrainerSettings.Builder b = TrainerSettings.builder()
        .set(TrainerConfig.BOOTSTRAP_SERVERS, "unused:9092")
        .set(TrainerConfig.REGISTRY_URL, "http://unused")
        .set(TrainerConfig.MODEL_DIR, model)
        .set(TrainerConfig.METRICS_PORT, 0)
        .set(TrainerConfig.PACK, pack);
    if (labelsConfig != null) {
      Map<String, String> file = ClientConfigFile.properties(labelsConfig, "the labelling rules file", " (--labels-config)");
      LabelingKeys.KEYS.forEach(k -> {
        if (file.containsKey(k.name())) {
          b.set(k.name(), file.get(k.name()));
        }
      });
    }
    if (reasoning != null) {
      b.set(LabelingKeys.REASONING, reasoning);
    }
    for (CommandLine.Model.OptionSpec option : spec.options()) {
      String key = option.descriptionKey();
      if (TrainerConfig.KEYS.containsKey(key) && option.getValue() != null) {
        b.set(key, option.getValue().toString());
      }
    }
    return b.build();
  }

  private void refuseIfPublished(Map<String, String> client) {
    try (CheckpointReader reader = CheckpointReader.open(bootstrap,
        SchemaRegistryConfig.fromMap(client), topic, new LinkedHashMap<>(client))) {
      reader.newest(adapter).ifPresent(c -> {
        throw new IllegalArgumentException("adapter " + adapter + " already has checkpoints on "
            + topic + " (newest v" + c.version() + "); a file-trained start would make its"
            + " trainer retrain the topic from the beginning on top of it. Publish under a new"
            + " --adapter.");
      });
    }
  }

  /**
   * Version 1 of the adapter: the PEFT files, the optimizer moments and a training state with no
   * input offsets, so the service resumes from it and reads its topic from the beginning. One
   * transaction: a reader sees the whole checkpoint or nothing.
   */
  private void publish(Map<String, String> client, TrainerSettings settings,
      ModelIdentity identity, FileTraining.Result result, Map<String, float[]> moments,
      long optimizerSteps) {
    List<Batch.Example> evalSet = result.evalSet().subList(0, Math.min(result.evalSet().size(),
        settings.eval().maxExamples()));
    TrainingState state = new TrainingState(adapter, 1, result.steps(), optimizerSteps,
        result.examplesTrained(), result.tokensTrained(), 0, 0, 0, 0, settings.seed(), Map.of(),
        Map.of(), evalSet);
    Map<String, Double> metrics = new LinkedHashMap<>();
    if (Double.isFinite(result.evalLoss())) {
      metrics.put("eval_loss", result.evalLoss());
    }
    metrics.put("eval_examples", (double) evalSet.size());
    CheckpointFiles.Encoded encoded = CheckpointFiles.records(adapter, 1,
        new CheckpointFiles.Content(result.adapter(), moments, state),
        new CheckpointFiles.ManifestFacts(result.steps(), result.examplesTrained(),
            result.tokensTrained(), Map.of(), identity, settings.lora(), metrics, Instant.now()),
        settings.checkpoints().chunkBytes());
    try (SchemaRegistryClient schemas = new SchemaRegistryClient(
            SchemaRegistryConfig.fromMap(client));
        KafkaProducer<String, Object> producer = CheckpointPublisher.producer(bootstrap, client,
            schemas, "sft-train-publish-" + adapter + "-" + java.util.UUID.randomUUID(),
            settings.checkpoints().chunkBytes())) {
      producer.initTransactions();
      producer.beginTransaction();
      new CheckpointPublisher(producer, topic, settings.kafka().releasesTopic())
          .send(adapter, encoded.records());
      producer.commitTransaction();
    }
    System.out.printf("published %s v1 to %s: %,d bytes, a candidate the service starts from"
        + " (release it with trainer-service release --to 1)%n", adapter, topic,
        encoded.bytes());
  }

  /**
   * The file's examples: mask output lines as they are, conversations labelled by {@code
   * labeler} (the streams app's rules). A line that cannot be used is reported with its number
   * and reason, never dropped silently.
   */
  static List<SftExample> read(Path file, ExampleLabeler labeler, ModelIdentity identity,
      String adapter, DatasetFormat format) throws IOException {
    List<SftExample> out = new ArrayList<>();
    int skipped = 0;
    try (DatasetFile in = DatasetFile.open(file)) {
      DatasetFile.Entry entry;
      while ((entry = in.next()) != null) {
        try {
          out.add(example(entry.record(), format, labeler, identity, adapter));
        } catch (InvalidRecordException | IllegalArgumentException e) {
          System.out.printf("  %s line %d: %s, skipped%n", file.getFileName(), entry.line(),
              e.getMessage());
          skipped++;
        } catch (RejectedException e) {
          System.out.printf("  %s line %d: %s (%s), skipped%n", file.getFileName(),
              entry.line(), e.reason(), e.detail());
          skipped++;
        }
      }
    }
    if (out.isEmpty()) {
      throw new IllegalArgumentException(file + ": no usable example (" + skipped
          + " records skipped)");
    }
    if (skipped > 0) {
      System.out.printf("  %s: %d examples, %d records skipped%n", file.getFileName(),
          out.size(), skipped);
    }
    return out;
  }

  private static SftExample example(JsonNode node, DatasetFormat format,
      ExampleLabeler labeler, ModelIdentity identity, String adapter)
      throws InvalidRecordException, RejectedException {
    String id;
    List<Integer> ids;
    List<Integer> labels;
    if (node.has("input_ids")) { // streams-app mask output
      if (node.has("error")) {
        throw new IllegalArgumentException("mask could not label it: " + node.get("error"));
      }
      id = node.path("id").asText();
      ids = ints(node.get("input_ids"));
      labels = ints(node.get("labels"));
    } else {
      Conversation c = DatasetRecords.convert(node, format).toAvro("default", Instant.EPOCH);
      AssistantLabeler.Labeled l = labeler.label(c);
      id = c.getId();
      ids = Arrays.stream(l.inputIds()).boxed().toList();
      labels = Arrays.stream(l.labels()).boxed().toList();
    }
    if (ids.size() != labels.size()) {
      throw new IllegalArgumentException("input_ids and labels differ in length (" + ids.size()
          + " vs " + labels.size() + ")");
    }
    long trained = labels.stream().filter(x -> x != LabelContract.IGNORE_INDEX).count();
    return SftExample.newBuilder().setConversationId(id).setAdapter(adapter)
        .setInputIds(ids).setLabels(labels).setTrainedTokens((int) trained)
        .setTokenizerFingerprint(identity.tokenizerFingerprint()).setTemplateFingerprint("")
        .setSourceTopic("file").setSourcePartition(0).setSourceOffset(0)
        .setCreatedAt(Instant.EPOCH).build();
  }

  private static List<Integer> ints(JsonNode array) {
    if (array == null || !array.isArray()) {
      throw new IllegalArgumentException("input_ids and labels must be arrays");
    }
    List<Integer> out = new ArrayList<>(array.size());
    array.forEach(n -> out.add(n.asInt()));
    return out;
  }
}
