package io.continualsft.trainer.config;

import static io.continualsft.trainer.config.Setting.bool;
import static io.continualsft.trainer.config.Setting.choice;
import static io.continualsft.trainer.config.Setting.decimal;
import static io.continualsft.trainer.config.Setting.integer;
import static io.continualsft.trainer.config.Setting.list;
import static io.continualsft.trainer.config.Setting.optionalPath;
import static io.continualsft.trainer.config.Setting.path;
import static io.continualsft.trainer.config.Setting.text;
import static io.continualsft.trainer.config.Setting.whole;

import io.continualsft.chat.labels.AllowedAdapters;
import io.continualsft.chat.labels.LabelingKeys;
import io.continualsft.runtime.config.LayeredConfig;
import io.continualsft.schemas.SftTopics;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.kafka.common.config.ConfigException;

/**
 * The trainer's configuration keys, each with its meaning, its default and where {@link
 * TrainerSettings} holds it: the one table every source of settings goes through (the
 * properties file and the environment, the builder that the local run, the tests and the
 * benchmarks use, the properties written for a child process). Layered as every service's
 * ({@link LayeredConfig}): a properties file, then {@code SFT_<KEY>} environment variables. The
 * labelling keys are {@link LabelingKeys}', shared with the streams app. A key that is not the
 * trainer's own goes to the schema registry client (its keys) or to the Kafka clients.
 */
public final class TrainerConfig {
  private TrainerConfig() {}

  public static final Setting<String> BOOTSTRAP_SERVERS = text("bootstrap.servers",
      "Kafka bootstrap servers.", null, s -> s.kafka().bootstrapServers());
  public static final Setting<String> REGISTRY_URL = text(SchemaRegistryConfig.URL,
      "Schema registry base URL(s), Confluent API.", null,
      s -> s.kafka().registryProperties().get(SchemaRegistryConfig.URL));
  public static final Setting<String> AUTO_REGISTER_SCHEMAS = text(
      SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS,
      "Register the checkpoint and dead-letter schemas if missing.", "false",
      s -> s.kafka().registryProperties().get(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS));
  public static final Setting<String> ADAPTER = text("adapter.id", "The adapter this instance"
      + " trains (others are skipped), or * for every adapter of the partitions the consumer"
      + " group assigns it.", "default", TrainerSettings::adapter);
  public static final Setting<Integer> MAX_RESIDENT_ADAPTERS = integer("adapters.max-resident",
      "Adapters whose weights and optimizer moments stay in memory; past that the least"
          + " recently trained is checkpointed and evicted.", 8,
      s -> s.adapters().maxResident());
  public static final Setting<AllowedAdapters> ADAPTERS_ALLOWED = new Setting<>(
      "adapters.allowed", "Adapters an example may name (with adapter.id=*): names and glob"
          + " patterns (* any run of characters, ? one), comma-separated; * allows every valid"
          + " name. The streams app's setting of the same name refuses them first; the trainer"
          + " refuses them again (ADAPTER_NOT_ALLOWED), for records that never passed it.",
      AllowedAdapters.ANY, AllowedAdapters::parse, AllowedAdapters::toString,
      s -> s.adapters().allowed());
  public static final Setting<Integer> MAX_KNOWN_ADAPTERS = integer("adapters.max-known",
      "Adapters one trainer keeps accounting for (with adapter.id=*): an example of one more is"
          + " a dead letter (ADAPTER_NOT_ALLOWED) until a rebalance moves an adapter away.", 1000,
      s -> s.adapters().maxKnown());
  public static final Setting<String> LORA_OVERRIDES = text("adapters.lora-overrides",
      "Per-adapter LoRA settings: NAME.KEY=VALUE entries separated by ; (KEY: r, alpha, dropout,"
          + " target-modules, use-rslora), the rest from lora.*; e.g. acme.r=16;"
          + " acme.target-modules=all-linear.", "",
      s -> LoraOverrides.render(s.adapters().loraOverrides()));
  public static final Setting<String> TOPIC_EXAMPLES = text("topic.examples",
      "Input topic (Avro SftExample).", SftTopics.EXAMPLES, s -> s.kafka().examplesTopic());
  public static final Setting<String> TOPIC_DEAD_LETTERS = text("topic.dead-letters",
      "Dead letters (Avro Rejection).", SftTopics.EXAMPLES_DLQ,
      s -> s.kafka().deadLetterTopic());
  public static final Setting<String> TOPIC_CHECKPOINTS = text("topic.checkpoints",
      "Checkpoint topic (Avro CheckpointRecord).", SftTopics.ADAPTER_CHECKPOINTS,
      s -> s.kafka().checkpointTopic());
  public static final Setting<String> TOPIC_RELEASES = text("topic.releases",
      "Released versions (Avro AdapterRelease, key = adapter); create it with"
          + " cleanup.policy=compact.", SftTopics.ADAPTER_RELEASES,
      s -> s.kafka().releasesTopic());
  public static final Setting<String> GROUP_ID = text("group.id", "Consumer group; empty:"
      + " sft-trainer-<adapter.id>, or sft-trainers with adapter.id=*.", "",
      s -> s.kafka().groupId());
  public static final Setting<String> TRANSACTIONAL_ID = text("transactional.id",
      "Producer transactional id; empty: sft-trainer-<adapter.id> (stable per adapter, so a"
          + " second trainer fences the first), or with adapter.id=* <group.id>-<random> (each"
          + " trainer of the group its own; the group's generation fences a zombie).", "",
      s -> s.kafka().transactionalId());
  public static final Setting<Path> MODEL_DIR = path("model.dir",
      "Base model directory (config.json, model.safetensors, tokenizer.json).",
      s -> s.model().dir());
  public static final Setting<String> MODEL_NAME = text("model.name",
      "base_model_name_or_path in adapter_config.json; empty: model.dir.", "",
      s -> s.model().name());
  public static final Setting<String> DEVICE = choice("device", "cpu, gpu or auto.", "cpu",
      Map.of("cpu", "cpu", "gpu", "gpu", "auto", "auto"), s -> s.model().device());
  public static final Setting<Integer> LORA_R = integer("lora.r", "LoRA rank.", 8,
      s -> s.lora().r());
  public static final Setting<Double> LORA_ALPHA = decimal("lora.alpha", "lora_alpha.", 16.0,
      s -> s.lora().alpha());
  public static final Setting<Double> LORA_DROPOUT = decimal("lora.dropout", "lora_dropout.",
      0.0, s -> s.lora().dropout());
  public static final Setting<List<String>> LORA_TARGET_MODULES = list("lora.target-modules",
      "Comma-separated modules, or all-linear.", List.of("q_proj", "v_proj"), m -> m, m -> m,
      s -> s.lora().targetModules());
  public static final Setting<Boolean> LORA_RSLORA = bool("lora.use-rslora",
      "Scale by alpha/sqrt(r).", false, s -> s.lora().useRslora());
  public static final Setting<Long> SEED = whole("seed",
      "Seed of adapter initialisation and dropout.", 0L, TrainerSettings::seed);
  public static final Setting<String> PRECISION = choice("train.precision", "The base"
      + " weights' precision: auto (bf16 where the device multiplies it natively: a GPU, or a CPU"
      + " with AMX-BF16 or AVX512-BF16; fp32 elsewhere), fp32, bf16 or fp16. The adapter, its"
      + " gradients, the loss and the optimizer's moments are fp32 whatever this says.", "auto",
      Map.of("auto", "auto", "fp32", "fp32", "bf16", "bf16", "fp16", "fp16"),
      s -> s.steps().precision());
  public static final Setting<TrainerSettings.Recompute> RECOMPUTE = choice("train.recompute",
      "Recompute each layer's activations in backward (gradient checkpointing): on, off, or"
          + " auto (for each micro-batch whose activations, estimated from the model's shape and"
          + " the micro-batch's tokens, would exceed 2 GiB, 1 GiB with fp32 weights; smaller ones"
          + " keep theirs, which is faster).", TrainerSettings.Recompute.AUTO,
      Map.of("auto", TrainerSettings.Recompute.AUTO, "on", TrainerSettings.Recompute.ON,
          "off", TrainerSettings.Recompute.OFF), s -> s.steps().recompute());
  public static final Setting<Integer> ATTENTION_BLOCK = integer("train.attention-block",
      "Rows longer than this many tokens compute attention in blocks of this many queries, each"
          + " against the keys of its own examples only, never a full row-by-row score matrix.",
      256, s -> s.steps().attentionBlock());
  public static final Setting<Integer> MAX_LENGTH = integer("train.max-length",
      "Longer examples are dead letters (TOO_MANY_TOKENS).", 2048,
      s -> s.steps().maxLength());
  public static final Setting<Integer> TOKEN_BUDGET = new Setting<>("batch.token-budget",
      "Tokens computed per micro-batch, padding included; an example (or packed row) longer than"
          + " this is a micro-batch of its own. auto: as many as fit 2 GiB of activations (1 GiB with"
          + " fp32 weights) by the model's shape, 256 to 2048: 2048 for a 20 M model, 576 for a"
          + " 0.5 B one in bf16; the size at which a CPU trains fastest and memory stays bounded.", 0,
      TrainerConfig::parseTokenBudget, v -> v == 0 ? "auto" : Integer.toString(v),
      s -> s.steps().tokenBudget());
  public static final Setting<Boolean> PACK = choice("batch.mode",
      "bucket (one example per row, by length) or pack.", false,
      Map.of("bucket", false, "pack", true), s -> s.steps().pack());
  public static final Setting<Integer> STEP_TOKENS = integer("step.tokens",
      "Trained tokens per optimizer step.", 2048, s -> s.steps().stepTokens());
  public static final Setting<Integer> STEP_EXAMPLES = integer("step.examples",
      "Examples per optimizer step, if reached before step.tokens; 0 sizes steps by tokens"
          + " only.", 0, s -> s.steps().stepExamples());
  public static final Setting<Double> LEARNING_RATE = decimal("optimizer.lr",
      "Peak learning rate.", 1e-4, s -> s.optimizer().learningRate());
  public static final Setting<Double> WEIGHT_DECAY = decimal("optimizer.weight-decay",
      "AdamW weight decay.", 0.0, s -> s.optimizer().weightDecay());
  public static final Setting<List<Double>> BETAS = list("optimizer.betas", "AdamW betas.",
      List.of(0.9, 0.999), Setting::parseDouble, Setting::number,
      s -> List.of(s.optimizer().beta1(), s.optimizer().beta2()));
  public static final Setting<Double> EPS = decimal("optimizer.eps", "AdamW epsilon.", 1e-8,
      s -> s.optimizer().eps());
  public static final Setting<Integer> WARMUP_STEPS = integer("lr.warmup-steps",
      "Linear warm-up steps.", 10, s -> s.optimizer().warmupSteps());
  public static final Setting<Boolean> COSINE = choice("lr.schedule",
      "constant (after warm-up) or cosine.", false, Map.of("constant", false, "cosine", true),
      s -> s.optimizer().cosine());
  public static final Setting<Integer> COSINE_STEPS = integer("lr.cosine-steps",
      "Steps of cosine decay (schedule cosine).", 10_000, s -> s.optimizer().cosineSteps());
  public static final Setting<Double> CLIP_NORM = decimal("grad.clip-norm",
      "Global gradient-norm clip; 0 disables.", 1.0, s -> s.optimizer().clipNorm());
  public static final Setting<Double> EVAL_FRACTION = decimal("eval.fraction",
      "Share of conversations held out (by id hash) for eval loss.", 0.02,
      s -> s.eval().fraction());
  public static final Setting<Integer> EVAL_MAX_EXAMPLES = integer("eval.max-examples",
      "Held-out examples kept for the eval loss.", 32, s -> s.eval().maxExamples());
  public static final Setting<Integer> CHECKPOINT_EVERY_STEPS = integer(
      "checkpoint.every-steps", "Publish a checkpoint every N optimizer steps.", 50,
      s -> s.checkpoints().everySteps());
  public static final Setting<Integer> CHECKPOINT_EVERY_SECONDS = integer(
      "checkpoint.every-seconds", "... or after this many seconds with progress.", 300,
      s -> s.checkpoints().everySeconds());
  public static final Setting<Integer> CHUNK_BYTES = integer("checkpoint.chunk-bytes",
      "Largest chunk of a checkpoint file.", 524_288, s -> s.checkpoints().chunkBytes());
  public static final Setting<Integer> METRICS_PORT = integer("metrics.port",
      "Port of /metrics and /health; 0 disables.", 9401,
      s -> s.observability().metricsPort());
  public static final Setting<String> METRICS_HOST = text("metrics.host",
      "Address the metrics endpoint binds to.", "0.0.0.0",
      s -> s.observability().metricsHost());
  public static final Setting<Integer> PROGRESS_EVERY_STEPS = integer("progress.every-steps",
      "Print a progress line every N steps.", 5,
      s -> s.observability().progressEverySteps());
  public static final Setting<TrainerSettings.ReleasePolicy> RELEASE_POLICY = choice(
      "release.policy", "Which candidates are released: gate (those the evaluation gate"
          + " passes), every-candidate (each checkpoint) or manual (none; trainer-service"
          + " release --to).", TrainerSettings.ReleasePolicy.GATE,
      Map.of("gate", TrainerSettings.ReleasePolicy.GATE,
          "every-candidate", TrainerSettings.ReleasePolicy.EVERY_CANDIDATE,
          "manual", TrainerSettings.ReleasePolicy.MANUAL),
      s -> s.gate().policy());
  public static final Setting<Double> GATE_MAX_EVAL_INCREASE = decimal("gate.max-eval-increase",
      "Gate: how much higher (relative) than the release's, on the same held-out examples, a"
          + " candidate's eval loss may be (0.02 = 2 %).", 0.0,
      s -> s.gate().maxEvalIncrease());
  public static final Setting<Double> GATE_MAX_RETENTION_INCREASE = decimal(
      "gate.max-retention-increase", "Gate: ε, how much higher (relative) than the release's"
          + " (the base model's before the first release) a candidate's retention loss may be.",
      0.05, s -> s.gate().maxRetentionIncrease());
  public static final Setting<Double> GATE_ABSOLUTE_TOLERANCE = decimal(
      "gate.absolute-tolerance", "Gate: how far above the release's (in nats) either loss may"
          + " be whatever the relative tolerances say, so that tiny losses' noise is not a"
          + " regression; 0 disables.", 0.01, s -> s.gate().absoluteTolerance());
  public static final Setting<Optional<Path>> RETENTION_FILE = optionalPath("retention.file",
      "Retention set: a JSONL file of conversations the adapter must keep (labelled by the"
          + " labels.* and validation.* rules, as the stream is, and refused past"
          + " train.max-length; never trained on); empty: none.",
      s -> s.retention().file());
  public static final Setting<String> RETENTION_TOPIC = text("retention.topic",
      "Retention set: a topic of Avro Conversations, read from its start at startup; empty:"
          + " none.", "", s -> s.retention().topic());
  public static final Setting<Integer> RETENTION_MAX_EXAMPLES = integer(
      "retention.max-examples", "Largest retention set: a longer file stops the trainer, a"
          + " longer topic is cut there with a warning.", 256,
      s -> s.retention().maxExamples());
  public static final Setting<Double> REPLAY_FRACTION = decimal("replay.fraction",
      "ρ: share of each step's examples drawn back (by offset) from examples already trained,"
          + " against forgetting; 0 disables.", 0.0, s -> s.replay().fraction());
  public static final Setting<Double> REPLAY_RETENTION_SHARE = decimal(
      "replay.retention-share", "Share of replayed examples drawn from the retention set"
          + " instead (the retention loss then no longer measures unseen examples).", 0.0,
      s -> s.replay().retentionShare());
  public static final Setting<AdapterObjectives> OBJECTIVE = new Setting<>("objective",
      "What adapters learn from: sft (the examples topic, cross-entropy on assistant tokens) or"
          + " kto (the preference examples topic, KTO on rated turns); or per adapter,"
          + " comma-separated PATTERN=sft|kto entries (patterns as in adapters.allowed, the first"
          + " match deciding, no match: sft).", AdapterObjectives.SFT, AdapterObjectives::parse,
      AdapterObjectives::toString, s -> s.objectives().spec());
  public static final Setting<String> TOPIC_PREFERENCE_EXAMPLES = text(
      "topic.preference-examples", "Input topic of the kto adapters (Avro PreferenceExample).",
      SftTopics.PREFERENCE_EXAMPLES, s -> s.objectives().preferenceTopic());
  public static final Setting<Double> KTO_BETA = decimal("kto.beta", "KTO's beta: how far the"
      + " adapter may move from the base model (TRL's default).", 0.1,
      s -> s.objectives().beta());
  public static final Setting<Double> KTO_DESIRABLE_WEIGHT = decimal("kto.desirable-weight",
      "KTO's weight of desirable (rated up or corrected) completions.", 1.0,
      s -> s.objectives().desirableWeight());
  public static final Setting<Double> KTO_UNDESIRABLE_WEIGHT = decimal("kto.undesirable-weight",
      "KTO's weight of undesirable (rated down or replaced) completions; with unbalanced"
          + " ratings the KTO paper keeps desirable-weight x desirable / (undesirable-weight x"
          + " undesirable) in [1, 4/3].", 1.0, s -> s.objectives().undesirableWeight());
  public static final Setting<String> ERASURE_TOPIC = text("erasure.topic",
      "Erasure requests (Avro ErasureRequest), read from the start at startup and followed;"
          + " create it with cleanup.policy=compact. Empty: none (nothing is ever erased).",
      SftTopics.ERASURE_REQUESTS, s -> s.erasure().topic());
  public static final Setting<Integer> ERASURE_BATCH_WINDOW = integer("erasure.batch-window",
      "Seconds an erasure request waits for others before the trainer rewinds for all of them"
          + " at once (each rewind retrains from the oldest version a request touches).", 30,
      s -> s.erasure().batchWindowSeconds());
  public static final Setting<List<Long>> NON_FINITE_STEPS = list("debug.nonfinite-steps",
      "Fault injection for tests: steps whose gradients are made NaN (comma-separated).",
      List.of(), v -> (long) Setting.parseInt(v), String::valueOf,
      TrainerSettings::nonFiniteSteps);

  /** Every setting, in the order the reference documents them (the labelling keys after). */
  public static final List<Setting<?>> SETTINGS = List.of(BOOTSTRAP_SERVERS, REGISTRY_URL,
      AUTO_REGISTER_SCHEMAS, ADAPTER, MAX_RESIDENT_ADAPTERS, ADAPTERS_ALLOWED,
      MAX_KNOWN_ADAPTERS, LORA_OVERRIDES, TOPIC_EXAMPLES,
      TOPIC_DEAD_LETTERS, TOPIC_CHECKPOINTS, TOPIC_RELEASES, GROUP_ID, TRANSACTIONAL_ID,
      MODEL_DIR, MODEL_NAME, DEVICE, LORA_R, LORA_ALPHA, LORA_DROPOUT, LORA_TARGET_MODULES,
      LORA_RSLORA, SEED, MAX_LENGTH, TOKEN_BUDGET, PACK, PRECISION, RECOMPUTE, ATTENTION_BLOCK,
      STEP_TOKENS, STEP_EXAMPLES,
      LEARNING_RATE, WEIGHT_DECAY, BETAS, EPS, WARMUP_STEPS, COSINE, COSINE_STEPS, CLIP_NORM,
      EVAL_FRACTION, EVAL_MAX_EXAMPLES, CHECKPOINT_EVERY_STEPS, CHECKPOINT_EVERY_SECONDS,
      CHUNK_BYTES, METRICS_PORT, METRICS_HOST, PROGRESS_EVERY_STEPS, RELEASE_POLICY,
      GATE_MAX_EVAL_INCREASE, GATE_MAX_RETENTION_INCREASE, GATE_ABSOLUTE_TOLERANCE,
      RETENTION_FILE, RETENTION_TOPIC, RETENTION_MAX_EXAMPLES, REPLAY_FRACTION,
      REPLAY_RETENTION_SHARE, OBJECTIVE, TOPIC_PREFERENCE_EXAMPLES, KTO_BETA, KTO_DESIRABLE_WEIGHT,
      KTO_UNDESIRABLE_WEIGHT, ERASURE_TOPIC, ERASURE_BATCH_WINDOW, NON_FINITE_STEPS);

  private static final Set<String> LABELING_KEYS = LabelingKeys.KEYS.stream()
      .map(LabelingKeys.Key::name).collect(Collectors.toUnmodifiableSet());

  /** Every key with its default (null when required) and meaning, for the reference. */
  public static final Map<String, LayeredConfig.Key> KEYS = keys();

  /** Reads {@code file} (may be null), then {@code env}'s SFT_* overrides, into settings. */
  public static TrainerSettings load(Path file, Map<String, String> env) {
    return fromMap(LayeredConfig.read(file, env, KEYS, SchemaRegistryConfig.DEFAULTS.keySet()));
  }

  /** Settings from key/value pairs as a properties file holds them. */
  public static TrainerSettings fromMap(Map<String, String> values) {
    return TrainerSettings.from(new Values(values));
  }

  /** The properties that {@link #fromMap} reads back into {@code settings}: for a child process. */
  public static Map<String, String> toProperties(TrainerSettings settings) {
    Map<String, String> out = new LinkedHashMap<>(settings.kafka().clientProperties());
    out.putAll(settings.kafka().registryProperties());
    for (Setting<?> s : SETTINGS) {
      out.put(s.key(), s.printFrom(settings));
    }
    out.putAll(LabelingKeys.write(settings.labels().rules(), settings.labels().templateName()));
    return out;
  }

  /**
   * The values given for the trainer's keys, read through their settings (a key not given: its
   * default), and the rest sorted into the registry client's and the Kafka clients' properties.
   */
  static final class Values {
    private final Map<String, String> given;

    Values(Map<String, String> given) {
      this.given = Map.copyOf(given);
    }

    <T> T get(Setting<T> setting) {
      String v = given.get(setting.key());
      if (v == null || (setting.required() && v.isBlank())) {
        if (setting.required()) {
          throw new ConfigException(setting.key() + " is required (environment: "
              + LayeredConfig.envName(setting.key()) + ")");
        }
        return setting.defaultValue();
      }
      return setting.parse(v);
    }

    /** The value given for {@code key}, or null: for the labelling keys. */
    String raw(String key) {
      return given.get(key);
    }

    /** The schema registry client's keys, auto-registration off unless given. */
    Map<String, String> registryProperties() {
      Map<String, String> out = new TreeMap<>();
      given.forEach((k, v) -> {
        if (SchemaRegistryConfig.DEFAULTS.containsKey(k)) {
          out.put(k, v);
        }
      });
      out.put(REGISTRY_URL.key(), get(REGISTRY_URL));
      out.put(AUTO_REGISTER_SCHEMAS.key(), get(AUTO_REGISTER_SCHEMAS));
      return out;
    }

    /** Every key that is neither a setting, a labelling key nor the registry client's. */
    Map<String, String> clientProperties() {
      Set<String> ours = SETTINGS.stream().map(Setting::key).collect(Collectors.toSet());
      Map<String, String> out = new TreeMap<>();
      given.forEach((k, v) -> {
        if (!ours.contains(k) && !LABELING_KEYS.contains(k)
            && !SchemaRegistryConfig.DEFAULTS.containsKey(k)) {
          out.put(k, v);
        }
      });
      return out;
    }
  }

  private static Map<String, LayeredConfig.Key> keys() {
    List<LayeredConfig.Key> keys = new ArrayList<>();
    for (Setting<?> s : SETTINGS) {
      keys.add(new LayeredConfig.Key(s.key(), s.required() ? null : printDefault(s), s.doc()));
    }
    LabelingKeys.KEYS.forEach(k -> keys.add(new LayeredConfig.Key(k.name(), k.defaultValue(),
        k.doc())));
    return LayeredConfig.keys(keys.toArray(LayeredConfig.Key[]::new));
  }

  private static <T> String printDefault(Setting<T> s) {
    return s.print(s.defaultValue());
  }

  /** "auto" as 0 (sized by {@code TrainingPlan}), or a number of tokens, at least 1. */
  private static int parseTokenBudget(String text) {
    if (text.equals("auto")) {
      return 0;
    }
    int tokens = Setting.parseInt(text);
    if (tokens < 1) {
      throw new IllegalArgumentException("must be auto or a number of tokens >= 1");
    }
    return tokens;
  }
}
