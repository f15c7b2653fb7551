package io.continualsft.trainer.config;

import io.continualsft.chat.labels.Identifiers;
import io.continualsft.runtime.config.LayeredConfig;
import io.continualsft.schemas.SftTopics;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.trainer.lora.LoraSettings;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import org.apache.kafka.common.config.ConfigException;

/**
 * Builds {@link TrainerSettings}. Its field values are the trainer's defaults, the only place
 * they are written; {@link #build()} validates every value and fails with a {@link
 * ConfigException} naming the key of the first one that is wrong.
 */
public final class TrainerSettingsBuilder {

  String bootstrapServers;
  final Map<String, String> registryProperties = new LinkedHashMap<>(
      Map.of(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS, "false"));
  String groupId = "";
  String transactionalId = "";
  String examplesTopic = SftTopics.EXAMPLES;
  String deadLetterTopic = SftTopics.EXAMPLES_DLQ;
  String checkpointTopic = SftTopics.ADAPTER_CHECKPOINTS;
  String releasesTopic = SftTopics.ADAPTER_RELEASES;
  final Map<String, String> clientProperties = new LinkedHashMap<>();
  String adapter = "default";
  Path modelDir;
  String modelName = "";
  String device = "cpu";
  int loraR = 8;
  double loraAlpha = 16;
  double loraDropout = 0.0;
  List<String> loraTargetModules = List.of("q_proj", "v_proj");
  boolean loraRslora = false;
  long seed = 0;
  int maxLength = 2048;
  int tokenBudget = 4096;
  boolean pack = false;
  int stepTokens = 2048;
  int stepExamples = 0;
  double learningRate = 1e-4;
  double weightDecay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  int warmupSteps = 10;
  boolean cosine = false;
  int cosineSteps = 10_000;
  double clipNorm = 1.0;
  double evalFraction = 0.02;
  int evalMaxExamples = 32;
  int maxResidentAdapters = 8;
  String loraOverrides = "";
  int checkpointEverySteps = 50;
  int checkpointEverySeconds = 300;
  int chunkBytes = 524_288;
  int metricsPort = 9401;
  String metricsHost = "0.0.0.0";
  int progressEverySteps = 5;
  TrainerSettings.ReleasePolicy releasePolicy = TrainerSettings.ReleasePolicy.GATE;
  double gateMaxEvalIncrease = 0.0;
  double gateMaxRetentionIncrease = 0.05;
  double gateAbsoluteTolerance = 0.01;
  Path retentionFile;
  String retentionTopic = "";
  int retentionMaxExamples = 256;
  double replayFraction = 0.0;
  double replayRetentionShare = 0.0;
  List<Long> nonFiniteSteps = List.of();

  TrainerSettingsBuilder() {}

  public TrainerSettingsBuilder bootstrapServers(String v) {
    bootstrapServers = v;
    return this;
  }

  /** The schema registry's base URL(s), Confluent API. */
  public TrainerSettingsBuilder registryUrl(String v) {
    return registryProperty(SchemaRegistryConfig.URL, v);
  }

  public TrainerSettingsBuilder autoRegisterSchemas(boolean v) {
    return registryProperty(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS, String.valueOf(v));
  }

  /** Any key of {@link SchemaRegistryConfig} (credentials, TLS, retries). */
  public TrainerSettingsBuilder registryProperty(String key, String value) {
    registryProperties.put(key, value);
    return this;
  }

  /** Any Kafka client property (security.protocol, sasl.*, ssl.*, timeouts). */
  public TrainerSettingsBuilder clientProperty(String key, String value) {
    clientProperties.put(key, value);
    return this;
  }

  /** At most this many adapters keep weights and moments in memory. */
  public TrainerSettingsBuilder maxResidentAdapters(int v) {
    maxResidentAdapters = v;
    return this;
  }

  /** Adapter {@code name} gets {@code settings} instead of {@code lora.*}. */
  public TrainerSettingsBuilder loraOverride(String name, LoraSettings settings) {
    String one = LoraOverrides.render(Map.of(name, settings));
    loraOverrides = loraOverrides.isBlank() ? one : loraOverrides + "; " + one;
    return this;
  }

  /**
   * Per-adapter LoRA settings as {@code adapters.lora-overrides} writes them: {@code
   * NAME.KEY=VALUE} entries separated by {@code ;}, KEY one of r, alpha, dropout,
   * target-modules, use-rslora; what an adapter's entries do not set comes from {@code lora.*}.
   */
  public TrainerSettingsBuilder loraOverrides(String spec) {
    loraOverrides = spec == null ? "" : spec;
    return this;
  }

  /** Blank: sft-trainer-&lt;adapter&gt;, or sft-trainers with adapter.id=*. */
  public TrainerSettingsBuilder groupId(String v) {
    groupId = v;
    return this;
  }

  /** Blank: sft-trainer-&lt;adapter&gt;, stable per adapter so a second trainer fences the first. */
  public TrainerSettingsBuilder transactionalId(String v) {
    transactionalId = v;
    return this;
  }

  public TrainerSettingsBuilder examplesTopic(String v) {
    examplesTopic = v;
    return this;
  }

  public TrainerSettingsBuilder deadLetterTopic(String v) {
    deadLetterTopic = v;
    return this;
  }

  public TrainerSettingsBuilder checkpointTopic(String v) {
    checkpointTopic = v;
    return this;
  }

  /** The compacted topic of released versions (Avro AdapterRelease, key = adapter). */
  public TrainerSettingsBuilder releasesTopic(String v) {
    releasesTopic = v;
    return this;
  }

  /** Which candidates the trainer releases: by the gate, every one, or none (by hand only). */
  public TrainerSettingsBuilder releasePolicy(TrainerSettings.ReleasePolicy v) {
    releasePolicy = v;
    return this;
  }

  /** How much worse (relative) than the release's a candidate's new-data eval loss may be. */
  public TrainerSettingsBuilder gateMaxEvalIncrease(double v) {
    gateMaxEvalIncrease = v;
    return this;
  }

  /** ε: how much worse (relative) than the baseline's a candidate's retention loss may be. */
  public TrainerSettingsBuilder gateMaxRetentionIncrease(double v) {
    gateMaxRetentionIncrease = v;
    return this;
  }

  /** How far (in nats) above the release's a candidate's loss may be, whatever its relative size. */
  public TrainerSettingsBuilder gateAbsoluteTolerance(double v) {
    gateAbsoluteTolerance = v;
    return this;
  }

  /** A JSONL file of conversations the adapter must keep being good at; null: none. */
  public TrainerSettingsBuilder retentionFile(Path v) {
    retentionFile = v;
    return this;
  }

  /** A topic of conversations (Avro Conversation) the adapter must keep; blank: none. */
  public TrainerSettingsBuilder retentionTopic(String v) {
    retentionTopic = v;
    return this;
  }

  public TrainerSettingsBuilder retentionMaxExamples(int v) {
    retentionMaxExamples = v;
    return this;
  }

  /** ρ: the share of each step's examples drawn back from examples already trained. */
  public TrainerSettingsBuilder replayFraction(double v) {
    replayFraction = v;
    return this;
  }

  /** The share of replayed examples drawn from the retention set instead of the topic. */
  public TrainerSettingsBuilder replayRetentionShare(double v) {
    replayRetentionShare = v;
    return this;
  }

  public TrainerSettingsBuilder adapter(String v) {
    adapter = v;
    return this;
  }

  public TrainerSettingsBuilder modelDir(Path v) {
    modelDir = v;
    return this;
  }

  public TrainerSettingsBuilder modelName(String v) {
    modelName = v;
    return this;
  }

  public TrainerSettingsBuilder device(String v) {
    device = v;
    return this;
  }

  public TrainerSettingsBuilder loraR(int v) {
    loraR = v;
    return this;
  }

  public TrainerSettingsBuilder loraAlpha(double v) {
    loraAlpha = v;
    return this;
  }

  public TrainerSettingsBuilder loraDropout(double v) {
    loraDropout = v;
    return this;
  }

  /** Module names (q_proj ... down_proj), or all-linear. */
  public TrainerSettingsBuilder loraTargetModules(List<String> v) {
    loraTargetModules = List.copyOf(v);
    return this;
  }

  public TrainerSettingsBuilder loraRslora(boolean v) {
    loraRslora = v;
    return this;
  }

  public TrainerSettingsBuilder lora(LoraSettings v) {
    return loraR(v.r()).loraAlpha(v.alpha()).loraDropout(v.dropout())
        .loraTargetModules(v.targetModules()).loraRslora(v.useRslora());
  }

  public TrainerSettingsBuilder seed(long v) {
    seed = v;
    return this;
  }

  public TrainerSettingsBuilder maxLength(int v) {
    maxLength = v;
    return this;
  }

  public TrainerSettingsBuilder tokenBudget(int v) {
    tokenBudget = v;
    return this;
  }

  public TrainerSettingsBuilder pack(boolean v) {
    pack = v;
    return this;
  }

  public TrainerSettingsBuilder stepTokens(int v) {
    stepTokens = v;
    return this;
  }

  public TrainerSettingsBuilder stepExamples(int v) {
    stepExamples = v;
    return this;
  }

  public TrainerSettingsBuilder learningRate(double v) {
    learningRate = v;
    return this;
  }

  public TrainerSettingsBuilder weightDecay(double v) {
    weightDecay = v;
    return this;
  }

  public TrainerSettingsBuilder betas(double first, double second) {
    beta1 = first;
    beta2 = second;
    return this;
  }

  public TrainerSettingsBuilder eps(double v) {
    eps = v;
    return this;
  }

  public TrainerSettingsBuilder warmupSteps(int v) {
    warmupSteps = v;
    return this;
  }

  /** Cosine decay after warm-up (true) or a constant rate (false, suited to a stream). */
  public TrainerSettingsBuilder cosine(boolean v) {
    cosine = v;
    return this;
  }

  public TrainerSettingsBuilder cosineSteps(int v) {
    cosineSteps = v;
    return this;
  }

  public TrainerSettingsBuilder clipNorm(double v) {
    clipNorm = v;
    return this;
  }

  public TrainerSettingsBuilder evalFraction(double v) {
    evalFraction = v;
    return this;
  }

  public TrainerSettingsBuilder evalMaxExamples(int v) {
    evalMaxExamples = v;
    return this;
  }

  public TrainerSettingsBuilder checkpointEverySteps(int v) {
    checkpointEverySteps = v;
    return this;
  }

  public TrainerSettingsBuilder checkpointEverySeconds(int v) {
    checkpointEverySeconds = v;
    return this;
  }

  public TrainerSettingsBuilder chunkBytes(int v) {
    chunkBytes = v;
    return this;
  }

  /** 0: no endpoint. */
  public TrainerSettingsBuilder metricsPort(int v) {
    metricsPort = v;
    return this;
  }

  public TrainerSettingsBuilder metricsHost(String v) {
    metricsHost = v;
    return this;
  }

  public TrainerSettingsBuilder progressEverySteps(int v) {
    progressEverySteps = v;
    return this;
  }

  public TrainerSettingsBuilder nonFiniteSteps(List<Long> v) {
    nonFiniteSteps = List.copyOf(v);
    return this;
  }

  /** Validates every value; the first problem fails with a ConfigException naming its key. */
  public TrainerSettings build() {
    required(TrainerConfig.BOOTSTRAP_SERVERS, bootstrapServers);
    required(SchemaRegistryConfig.URL, registryProperties.get(SchemaRegistryConfig.URL));
    required(TrainerConfig.MODEL_DIR, modelDir == null ? null : modelDir.toString());
    required(TrainerConfig.ADAPTER, adapter);
    required(TrainerConfig.TOPIC_EXAMPLES, examplesTopic);
    required(TrainerConfig.TOPIC_DEAD_LETTERS, deadLetterTopic);
    required(TrainerConfig.TOPIC_CHECKPOINTS, checkpointTopic);
    if (!List.of("cpu", "gpu", "auto").contains(device)) {
      throw new ConfigException(TrainerConfig.DEVICE, device, "must be cpu, gpu or auto");
    }
    LoraSettings lora;
    try {
      lora = new LoraSettings(loraR, loraAlpha, loraDropout, loraTargetModules, loraRslora);
    } catch (IllegalArgumentException e) {
      throw new ConfigException("lora.*: " + e.getMessage());
    }
    atLeast(TrainerConfig.MAX_LENGTH, maxLength, 1);
    atLeast(TrainerConfig.STEP_TOKENS, stepTokens, 1);
    atLeast(TrainerConfig.STEP_EXAMPLES, stepExamples, 0);
    if (tokenBudget < maxLength) {
      throw new ConfigException(TrainerConfig.TOKEN_BUDGET, tokenBudget,
          "must be at least " + TrainerConfig.MAX_LENGTH + " (" + maxLength + ")");
    }
    if (!(learningRate > 0) || !Double.isFinite(learningRate)) {
      throw new ConfigException(TrainerConfig.LEARNING_RATE, learningRate, "must be > 0");
    }
    if (!(weightDecay >= 0)) {
      throw new ConfigException(TrainerConfig.WEIGHT_DECAY, weightDecay, "must be >= 0");
    }
    if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) {
      throw new ConfigException(TrainerConfig.BETAS, beta1 + "," + beta2,
          "each must be in [0, 1)");
    }
    if (!(eps > 0)) {
      throw new ConfigException(TrainerConfig.EPS, eps, "must be > 0");
    }
    atLeast(TrainerConfig.WARMUP_STEPS, warmupSteps, 0);
    atLeast(TrainerConfig.COSINE_STEPS, cosineSteps, 1);
    if (!(clipNorm >= 0)) {
      throw new ConfigException(TrainerConfig.CLIP_NORM, clipNorm, "must be >= 0 (0 disables)");
    }
    if (!(evalFraction >= 0 && evalFraction < 1)) {
      throw new ConfigException(TrainerConfig.EVAL_FRACTION, evalFraction, "must be in [0, 1)");
    }
    atLeast(TrainerConfig.EVAL_MAX_EXAMPLES, evalMaxExamples, 0);
    atLeast(TrainerConfig.CHECKPOINT_EVERY_STEPS, checkpointEverySteps, 1);
    atLeast(TrainerConfig.CHECKPOINT_EVERY_SECONDS, checkpointEverySeconds, 1);
    atLeast(TrainerConfig.CHUNK_BYTES, chunkBytes, 1024);
    if (metricsPort < 0 || metricsPort > 65_535) {
      throw new ConfigException(TrainerConfig.METRICS_PORT, metricsPort, "must be a port, or 0");
    }
    atLeast(TrainerConfig.PROGRESS_EVERY_STEPS, progressEverySteps, 1);
    if (releasePolicy == null) {
      throw new ConfigException(TrainerConfig.RELEASE_POLICY + " is required");
    }
    if (!(gateMaxEvalIncrease >= 0) || !Double.isFinite(gateMaxEvalIncrease)) {
      throw new ConfigException(TrainerConfig.GATE_MAX_EVAL_INCREASE, gateMaxEvalIncrease,
          "must be >= 0 (a relative increase: 0.02 allows 2 % worse)");
    }
    if (!(gateMaxRetentionIncrease >= 0) || !Double.isFinite(gateMaxRetentionIncrease)) {
      throw new ConfigException(TrainerConfig.GATE_MAX_RETENTION_INCREASE,
          gateMaxRetentionIncrease, "must be >= 0 (a relative increase: 0.05 allows 5 % worse)");
    }
    if (!(gateAbsoluteTolerance >= 0) || !Double.isFinite(gateAbsoluteTolerance)) {
      throw new ConfigException(TrainerConfig.GATE_ABSOLUTE_TOLERANCE, gateAbsoluteTolerance,
          "must be >= 0 (nats)");
    }
    if (retentionFile != null && !retentionTopic.isBlank()) {
      throw new ConfigException(TrainerConfig.RETENTION_FILE, retentionFile,
          "give " + TrainerConfig.RETENTION_FILE + " or " + TrainerConfig.RETENTION_TOPIC
              + ", not both");
    }
    if (retentionFile != null && !java.nio.file.Files.isRegularFile(retentionFile)) {
      throw new ConfigException(TrainerConfig.RETENTION_FILE, retentionFile, "is not a file");
    }
    atLeast(TrainerConfig.RETENTION_MAX_EXAMPLES, retentionMaxExamples, 1);
    if (retentionMaxExamples > 100_000) {
      throw new ConfigException(TrainerConfig.RETENTION_MAX_EXAMPLES, retentionMaxExamples,
          "must be <= 100000 (the set is held in memory and scored at every checkpoint)");
    }
    if (!(replayFraction >= 0 && replayFraction <= 0.9)) {
      throw new ConfigException(TrainerConfig.REPLAY_FRACTION, replayFraction,
          "must be in [0, 0.9]");
    }
    if (!(replayRetentionShare >= 0 && replayRetentionShare <= 1)) {
      throw new ConfigException(TrainerConfig.REPLAY_RETENTION_SHARE, replayRetentionShare,
          "must be in [0, 1]");
    }
    if (replayRetentionShare > 0 && retentionFile == null && retentionTopic.isBlank()) {
      throw new ConfigException(TrainerConfig.REPLAY_RETENTION_SHARE, replayRetentionShare,
          "needs a retention set (" + TrainerConfig.RETENTION_FILE + " or "
              + TrainerConfig.RETENTION_TOPIC + ")");
    }
    Map<String, String> registry = Map.copyOf(registryProperties);
    SchemaRegistryConfig.fromMap(registry); // fails naming the registry key that is wrong
    boolean every = adapter.equals(TrainerSettings.EVERY_ADAPTER);
    if (!every && !Identifiers.ADAPTER.matcher(adapter).matches()) {
      throw new ConfigException(TrainerConfig.ADAPTER, adapter, "must be * (every adapter of the"
          + " assigned partitions) or an adapter name: " + Identifiers.ADAPTER.pattern());
    }
    atLeast(TrainerConfig.MAX_RESIDENT_ADAPTERS, maxResidentAdapters, 1);
    Map<String, LoraSettings> overrides = LoraOverrides.parse(loraOverrides, lora);
    String group = groupId.isBlank() ? (every ? "sft-trainers" : "sft-trainer-" + adapter)
        : groupId;
    // With adapter.id=* every trainer of the group needs a transactional id of its own; the
    // consumer group's generation (sendOffsetsToTransaction with the consumer's group metadata)
    // is what fences a zombie then, not the id. A random suffix, as Kafka Streams' process id.
    String transactional = !transactionalId.isBlank() ? transactionalId : every
        ? group + "-" + java.util.UUID.randomUUID().toString().substring(0, 8)
        : "sft-trainer-" + adapter;
    return new TrainerSettings(
        new TrainerSettings.Kafka(bootstrapServers, registry, group, transactional, examplesTopic,
            deadLetterTopic, checkpointTopic, releasesTopic, Map.copyOf(clientProperties)),
        adapter,
        new TrainerSettings.Model(modelDir, Objects.requireNonNullElse(modelName, ""), device),
        lora,
        seed,
        new TrainerSettings.Steps(maxLength, tokenBudget, pack, stepTokens, stepExamples),
        new TrainerSettings.Optimizer(learningRate, weightDecay, beta1, beta2, eps, warmupSteps, cosine,
            cosineSteps, clipNorm),
        new TrainerSettings.Eval(evalFraction, evalMaxExamples),
        new TrainerSettings.Checkpoints(checkpointEverySteps, checkpointEverySeconds, chunkBytes),
        new TrainerSettings.Observability(metricsPort, metricsHost, progressEverySteps),
        new TrainerSettings.Gate(releasePolicy, gateMaxEvalIncrease, gateMaxRetentionIncrease,
            gateAbsoluteTolerance),
        new TrainerSettings.Retention(Optional.ofNullable(retentionFile),
            Objects.requireNonNullElse(retentionTopic, ""), retentionMaxExamples),
        new TrainerSettings.Replay(replayFraction, replayRetentionShare),
        new TrainerSettings.Adapters(maxResidentAdapters, overrides),
        nonFiniteSteps);
  }

  private static void required(String key, String value) {
    if (value == null || value.isBlank()) {
      throw new ConfigException(key + " is required (environment: "
          + LayeredConfig.envName(key) + ")");
    }
  }

  private static void atLeast(String key, long value, long min) {
    if (value < min) {
      throw new ConfigException(key, value, "must be >= " + min);
    }
  }
}
