package io.continualsft.trainer.config;

import io.continualsft.runtime.config.LayeredConfig;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.kafka.common.config.ConfigException;

/**
 * The trainer's configuration keys: each one's name, meaning, how it is read into {@link
 * TrainerSettingsBuilder} and how it is written back. Layered as every service's ({@link
 * LayeredConfig}): a properties file, then {@code SFT_<KEY>} environment variables. A key that is
 * not the trainer's own goes to the schema registry client (its keys) or to the Kafka clients.
 * Defaults are the builder's, so this table cannot disagree with it.
 */
public final class TrainerConfig {
  public static final String BOOTSTRAP_SERVERS = "bootstrap.servers";
  public static final String ADAPTER = "adapter.id";
  public static final String MAX_RESIDENT_ADAPTERS = "adapters.max-resident";
  public static final String LORA_OVERRIDES = "adapters.lora-overrides";
  public static final String TOPIC_EXAMPLES = "topic.examples";
  public static final String TOPIC_DEAD_LETTERS = "topic.dead-letters";
  public static final String TOPIC_CHECKPOINTS = "topic.checkpoints";
  public static final String TOPIC_RELEASES = "topic.releases";
  public static final String RELEASE_POLICY = "release.policy";
  public static final String GATE_MAX_EVAL_INCREASE = "gate.max-eval-increase";
  public static final String GATE_MAX_RETENTION_INCREASE = "gate.max-retention-increase";
  public static final String GATE_ABSOLUTE_TOLERANCE = "gate.absolute-tolerance";
  public static final String RETENTION_FILE = "retention.file";
  public static final String RETENTION_TOPIC = "retention.topic";
  public static final String RETENTION_MAX_EXAMPLES = "retention.max-examples";
  public static final String REPLAY_FRACTION = "replay.fraction";
  public static final String REPLAY_RETENTION_SHARE = "replay.retention-share";
  public static final String MODEL_DIR = "model.dir";
  public static final String DEVICE = "device";
  public static final String MAX_LENGTH = "train.max-length";
  public static final String TOKEN_BUDGET = "batch.token-budget";
  public static final String STEP_TOKENS = "step.tokens";
  public static final String STEP_EXAMPLES = "step.examples";
  public static final String LEARNING_RATE = "optimizer.lr";
  public static final String WEIGHT_DECAY = "optimizer.weight-decay";
  public static final String BETAS = "optimizer.betas";
  public static final String EPS = "optimizer.eps";
  public static final String WARMUP_STEPS = "lr.warmup-steps";
  public static final String COSINE_STEPS = "lr.cosine-steps";
  public static final String CLIP_NORM = "grad.clip-norm";
  public static final String EVAL_FRACTION = "eval.fraction";
  public static final String EVAL_MAX_EXAMPLES = "eval.max-examples";
  public static final String CHECKPOINT_EVERY_STEPS = "checkpoint.every-steps";
  public static final String CHECKPOINT_EVERY_SECONDS = "checkpoint.every-seconds";
  public static final String CHUNK_BYTES = "checkpoint.chunk-bytes";
  public static final String METRICS_PORT = "metrics.port";
  public static final String PROGRESS_EVERY_STEPS = "progress.every-steps";

  /** One key: how it reads into the builder, and how the builder's value is written. */
  private record Entry(String name, String doc, boolean required,
      Function<TrainerSettingsBuilder, String> show,
      BiConsumer<TrainerSettingsBuilder, String> set) {}

  private static final List<Entry> ENTRIES = List.of(
      entry(BOOTSTRAP_SERVERS, "Kafka bootstrap servers.", true,
          b -> b.bootstrapServers, (b, v) -> b.bootstrapServers(v)),
      entry(SchemaRegistryConfig.URL, "Schema registry base URL(s), Confluent API.", true,
          b -> b.registryProperties.get(SchemaRegistryConfig.URL), (b, v) -> b.registryUrl(v)),
      entry(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS,
          "Register the checkpoint and dead-letter schemas if missing.", false,
          b -> b.registryProperties.get(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS),
          (b, v) -> b.registryProperty(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS, v)),
      entry(ADAPTER, "The adapter this instance trains (others are skipped), or * for every"
          + " adapter of the partitions the consumer group assigns it.", false,
          b -> b.adapter, (b, v) -> b.adapter(v)),
      entry(MAX_RESIDENT_ADAPTERS, "Adapters whose weights and optimizer moments stay in"
          + " memory; past that the least recently trained is checkpointed and evicted.", false,
          b -> String.valueOf(b.maxResidentAdapters),
          (b, v) -> b.maxResidentAdapters(integer(MAX_RESIDENT_ADAPTERS, v))),
      entry(LORA_OVERRIDES, "Per-adapter LoRA settings: NAME.KEY=VALUE entries separated by ;"
          + " (KEY: r, alpha, dropout, target-modules, use-rslora), the rest from lora.*; e.g."
          + " acme.r=16; acme.target-modules=all-linear.", false,
          b -> b.loraOverrides, (b, v) -> b.loraOverrides(v)),
      entry(TOPIC_EXAMPLES, "Input topic (Avro SftExample).", false,
          b -> b.examplesTopic, (b, v) -> b.examplesTopic(v)),
      entry(TOPIC_DEAD_LETTERS, "Dead letters (Avro Rejection).", false,
          b -> b.deadLetterTopic, (b, v) -> b.deadLetterTopic(v)),
      entry(TOPIC_CHECKPOINTS, "Checkpoint topic (Avro CheckpointRecord).", false,
          b -> b.checkpointTopic, (b, v) -> b.checkpointTopic(v)),
      entry(TOPIC_RELEASES, "Released versions (Avro AdapterRelease, key = adapter); create it"
          + " with cleanup.policy=compact.", false,
          b -> b.releasesTopic, (b, v) -> b.releasesTopic(v)),
      entry("group.id", "Consumer group; empty: sft-trainer-<adapter.id>, or sft-trainers with"
          + " adapter.id=*.", false,
          b -> b.groupId, (b, v) -> b.groupId(v)),
      entry("transactional.id", "Producer transactional id; empty: sft-trainer-<adapter.id>"
          + " (stable per adapter, so a second trainer fences the first), or with adapter.id=*"
          + " <group.id>-<random> (each trainer of the group its own; the group's generation"
          + " fences a zombie).", false,
          b -> b.transactionalId, (b, v) -> b.transactionalId(v)),
      entry(MODEL_DIR, "Base model directory (config.json, model.safetensors, tokenizer.json).",
          true, b -> b.modelDir == null ? null : b.modelDir.toString(),
          (b, v) -> b.modelDir(Path.of(v))),
      entry("model.name", "base_model_name_or_path in adapter_config.json; empty: model.dir.",
          false, b -> b.modelName, (b, v) -> b.modelName(v)),
      entry(DEVICE, "cpu, gpu or auto.", false, b -> b.device, (b, v) -> b.device(v)),
      entry("lora.r", "LoRA rank.", false,
          b -> String.valueOf(b.loraR), (b, v) -> b.loraR(integer("lora.r", v))),
      entry("lora.alpha", "lora_alpha.", false,
          b -> number(b.loraAlpha), (b, v) -> b.loraAlpha(decimal("lora.alpha", v))),
      entry("lora.dropout", "lora_dropout.", false,
          b -> number(b.loraDropout), (b, v) -> b.loraDropout(decimal("lora.dropout", v))),
      entry("lora.target-modules", "Comma-separated modules, or all-linear.", false,
          b -> String.join(",", b.loraTargetModules),
          (b, v) -> b.loraTargetModules(Arrays.stream(v.split(",")).map(String::trim).toList())),
      entry("lora.use-rslora", "Scale by alpha/sqrt(r).", false,
          b -> String.valueOf(b.loraRslora), (b, v) -> b.loraRslora(bool("lora.use-rslora", v))),
      entry("seed", "Seed of adapter initialisation and dropout.", false,
          b -> String.valueOf(b.seed), (b, v) -> b.seed(integer("seed", v))),
      entry(MAX_LENGTH, "Longer examples are dead letters (TOO_MANY_TOKENS).", false,
          b -> String.valueOf(b.maxLength), (b, v) -> b.maxLength(integer(MAX_LENGTH, v))),
      entry(TOKEN_BUDGET, "Tokens computed per micro-batch, padding included.", false,
          b -> String.valueOf(b.tokenBudget), (b, v) -> b.tokenBudget(integer(TOKEN_BUDGET, v))),
      entry("batch.mode", "bucket (one example per row, by length) or pack.", false,
          b -> b.pack ? "pack" : "bucket",
          (b, v) -> b.pack(choice("batch.mode", v, "bucket", "pack"))),
      entry(STEP_TOKENS, "Trained tokens per optimizer step.", false,
          b -> String.valueOf(b.stepTokens), (b, v) -> b.stepTokens(integer(STEP_TOKENS, v))),
      entry(STEP_EXAMPLES, "Examples per optimizer step, if reached before step.tokens; 0 sizes"
          + " steps by tokens only.", false,
          b -> String.valueOf(b.stepExamples),
          (b, v) -> b.stepExamples(integer(STEP_EXAMPLES, v))),
      entry(LEARNING_RATE, "Peak learning rate.", false,
          b -> number(b.learningRate), (b, v) -> b.learningRate(decimal(LEARNING_RATE, v))),
      entry(WEIGHT_DECAY, "AdamW weight decay.", false,
          b -> number(b.weightDecay), (b, v) -> b.weightDecay(decimal(WEIGHT_DECAY, v))),
      entry(BETAS, "AdamW betas.", false,
          b -> number(b.beta1) + "," + number(b.beta2), TrainerConfig::betas),
      entry(EPS, "AdamW epsilon.", false,
          b -> number(b.eps), (b, v) -> b.eps(decimal(EPS, v))),
      entry(WARMUP_STEPS, "Linear warm-up steps.", false,
          b -> String.valueOf(b.warmupSteps), (b, v) -> b.warmupSteps(integer(WARMUP_STEPS, v))),
      entry("lr.schedule", "constant (after warm-up) or cosine.", false,
          b -> b.cosine ? "cosine" : "constant",
          (b, v) -> b.cosine(choice("lr.schedule", v, "constant", "cosine"))),
      entry(COSINE_STEPS, "Steps of cosine decay (schedule cosine).", false,
          b -> String.valueOf(b.cosineSteps), (b, v) -> b.cosineSteps(integer(COSINE_STEPS, v))),
      entry(CLIP_NORM, "Global gradient-norm clip; 0 disables.", false,
          b -> number(b.clipNorm), (b, v) -> b.clipNorm(decimal(CLIP_NORM, v))),
      entry(EVAL_FRACTION, "Share of conversations held out (by id hash) for eval loss.", false,
          b -> number(b.evalFraction), (b, v) -> b.evalFraction(decimal(EVAL_FRACTION, v))),
      entry(EVAL_MAX_EXAMPLES, "Held-out examples kept for the eval loss.", false,
          b -> String.valueOf(b.evalMaxExamples),
          (b, v) -> b.evalMaxExamples(integer(EVAL_MAX_EXAMPLES, v))),
      entry(CHECKPOINT_EVERY_STEPS, "Publish a checkpoint every N optimizer steps.", false,
          b -> String.valueOf(b.checkpointEverySteps),
          (b, v) -> b.checkpointEverySteps(integer(CHECKPOINT_EVERY_STEPS, v))),
      entry(CHECKPOINT_EVERY_SECONDS, "... or after this many seconds with progress.", false,
          b -> String.valueOf(b.checkpointEverySeconds),
          (b, v) -> b.checkpointEverySeconds(integer(CHECKPOINT_EVERY_SECONDS, v))),
      entry(CHUNK_BYTES, "Largest chunk of a checkpoint file.", false,
          b -> String.valueOf(b.chunkBytes), (b, v) -> b.chunkBytes(integer(CHUNK_BYTES, v))),
      entry(METRICS_PORT, "Port of /metrics and /health; 0 disables.", false,
          b -> String.valueOf(b.metricsPort), (b, v) -> b.metricsPort(integer(METRICS_PORT, v))),
      entry("metrics.host", "Address the metrics endpoint binds to.", false,
          b -> b.metricsHost, (b, v) -> b.metricsHost(v)),
      entry(PROGRESS_EVERY_STEPS, "Print a progress line every N steps.", false,
          b -> String.valueOf(b.progressEverySteps),
          (b, v) -> b.progressEverySteps(integer(PROGRESS_EVERY_STEPS, v))),
      entry(RELEASE_POLICY, "Which candidates are released: gate (those the evaluation gate"
          + " passes), every-candidate (each checkpoint) or manual (none; trainer-service release"
          + " --to).", false,
          b -> b.releasePolicy.key(), TrainerConfig::releasePolicy),
      entry(GATE_MAX_EVAL_INCREASE, "Gate: how much higher (relative) than the release's, on"
          + " the same held-out examples, a candidate's eval loss may be (0.02 = 2 %).", false,
          b -> number(b.gateMaxEvalIncrease),
          (b, v) -> b.gateMaxEvalIncrease(decimal(GATE_MAX_EVAL_INCREASE, v))),
      entry(GATE_MAX_RETENTION_INCREASE, "Gate: ε, how much higher (relative) than the release's"
          + " (the base model's before the first release) a candidate's retention loss may be.",
          false, b -> number(b.gateMaxRetentionIncrease),
          (b, v) -> b.gateMaxRetentionIncrease(decimal(GATE_MAX_RETENTION_INCREASE, v))),
      entry(GATE_ABSOLUTE_TOLERANCE, "Gate: how far above the release's (in nats) either loss"
          + " may be whatever the relative tolerances say, so that tiny losses' noise is not a"
          + " regression; 0 disables.", false, b -> number(b.gateAbsoluteTolerance),
          (b, v) -> b.gateAbsoluteTolerance(decimal(GATE_ABSOLUTE_TOLERANCE, v))),
      entry(RETENTION_FILE, "Retention set: a JSONL file of conversations the adapter must keep"
          + " (labelled as the stream is, never trained on); empty: none.", false,
          b -> b.retentionFile == null ? "" : b.retentionFile.toString(),
          (b, v) -> b.retentionFile(v.isBlank() ? null : Path.of(v))),
      entry(RETENTION_TOPIC, "Retention set: a topic of Avro Conversations, read from its start"
          + " at startup; empty: none.", false,
          b -> b.retentionTopic, (b, v) -> b.retentionTopic(v)),
      entry(RETENTION_MAX_EXAMPLES, "Largest retention set: a longer file stops the trainer, a"
          + " longer topic is cut there with a warning.",
          false, b -> String.valueOf(b.retentionMaxExamples),
          (b, v) -> b.retentionMaxExamples(integer(RETENTION_MAX_EXAMPLES, v))),
      entry(REPLAY_FRACTION, "ρ: share of each step's examples drawn back (by offset) from"
          + " examples already trained, against forgetting; 0 disables.", false,
          b -> number(b.replayFraction),
          (b, v) -> b.replayFraction(decimal(REPLAY_FRACTION, v))),
      entry(REPLAY_RETENTION_SHARE, "Share of replayed examples drawn from the retention set"
          + " instead (the retention loss then no longer measures unseen examples).", false,
          b -> number(b.replayRetentionShare),
          (b, v) -> b.replayRetentionShare(decimal(REPLAY_RETENTION_SHARE, v))),
      entry("debug.nonfinite-steps", "Fault injection for tests: steps whose gradients are"
          + " made NaN (comma-separated).", false,
          b -> b.nonFiniteSteps.stream().map(String::valueOf).collect(Collectors.joining(",")),
          TrainerConfig::nonFiniteSteps));

  /** Every key with its default (the builder's; null when required) and meaning. */
  public static final Map<String, LayeredConfig.Key> KEYS = keys();

  private TrainerConfig() {}

  /** Reads {@code file} (may be null), then {@code env}'s SFT_* overrides, into settings. */
  public static TrainerSettings load(Path file, Map<String, String> env) {
    return fromMap(LayeredConfig.read(file, env, KEYS, SchemaRegistryConfig.DEFAULTS.keySet()));
  }

  /** Settings from key/value pairs as a properties file holds them. */
  public static TrainerSettings fromMap(Map<String, String> values) {
    TrainerSettingsBuilder b = TrainerSettings.builder();
    Map<String, Entry> byName = new LinkedHashMap<>();
    ENTRIES.forEach(e -> byName.put(e.name(), e));
    values.forEach((key, value) -> {
      Entry entry = byName.get(key);
      if (entry != null) {
        entry.set().accept(b, value.trim());
      } else if (SchemaRegistryConfig.DEFAULTS.containsKey(key)) {
        b.registryProperty(key, value);
      } else {
        b.clientProperty(key, value);
      }
    });
    return b.build();
  }

  /** The properties that {@link #fromMap} reads back into {@code settings}: for a child process. */
  public static Map<String, String> toProperties(TrainerSettings settings) {
    TrainerSettingsBuilder b = settings.toBuilder();
    Map<String, String> out = new LinkedHashMap<>(settings.kafka().clientProperties());
    out.putAll(settings.kafka().registryProperties());
    for (Entry e : ENTRIES) {
      String value = e.show().apply(b);
      if (value != null) {
        out.put(e.name(), value);
      }
    }
    return out;
  }

  private static Map<String, LayeredConfig.Key> keys() {
    TrainerSettingsBuilder defaults = TrainerSettings.builder();
    return LayeredConfig.keys(ENTRIES.stream()
        .map(e -> new LayeredConfig.Key(e.name(), e.required() ? null : e.show().apply(defaults),
            e.doc()))
        .toArray(LayeredConfig.Key[]::new));
  }

  private static Entry entry(String name, String doc, boolean required,
      Function<TrainerSettingsBuilder, String> show,
      BiConsumer<TrainerSettingsBuilder, String> set) {
    return new Entry(name, doc, required, show, set);
  }

  private static void betas(TrainerSettingsBuilder b, String v) {
    String[] parts = v.split(",");
    if (parts.length != 2) {
      throw new ConfigException(BETAS, v, "must be two numbers");
    }
    b.betas(decimal(BETAS, parts[0].trim()), decimal(BETAS, parts[1].trim()));
  }

  private static void nonFiniteSteps(TrainerSettingsBuilder b, String v) {
    b.nonFiniteSteps(v.isBlank() ? List.of() : Arrays.stream(v.split(","))
        .map(s -> (long) integer("debug.nonfinite-steps", s.trim())).toList());
  }

  private static void releasePolicy(TrainerSettingsBuilder b, String v) {
    for (TrainerSettings.ReleasePolicy p : TrainerSettings.ReleasePolicy.values()) {
      if (p.key().equals(v.trim().toLowerCase(Locale.ROOT))) {
        b.releasePolicy(p);
        return;
      }
    }
    throw new ConfigException(RELEASE_POLICY, v, "must be gate, every-candidate or manual");
  }

  private static int integer(String key, String v) {
    try {
      return Integer.parseInt(v.trim());
    } catch (NumberFormatException e) {
      throw new ConfigException(key, v, "must be a whole number");
    }
  }

  private static double decimal(String key, String v) {
    try {
      return Double.parseDouble(v.trim());
    } catch (NumberFormatException e) {
      throw new ConfigException(key, v, "must be a number");
    }
  }

  private static boolean bool(String key, String v) {
    return choice(key, v, "false", "true");
  }

  /** false for {@code no}, true for {@code yes}, else a ConfigException naming both. */
  private static boolean choice(String key, String v, String no, String yes) {
    String s = v.trim().toLowerCase(Locale.ROOT);
    if (!s.equals(no) && !s.equals(yes)) {
      throw new ConfigException(key, v, "must be " + no + " or " + yes);
    }
    return s.equals(yes);
  }

  /** 16, 0.02, 1e-4: a number as a person writes it, and as it parses back exactly. */
  static String number(double v) {
    BigDecimal d = BigDecimal.valueOf(v).stripTrailingZeros();
    if (d.scale() <= 3) {
      return d.toPlainString();
    }
    int exponent = d.precision() - d.scale() - 1;
    return d.scaleByPowerOfTen(-exponent).toPlainString() + "e" + exponent;
  }
}
