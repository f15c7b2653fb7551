package io.continualsft.trainer.config;

import io.continualsft.schemas.SftTopics;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.trainer.lora.LoraSettings;
import io.continualsft.trainer.train.LearningRate;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.kafka.common.config.ConfigException;

/**
 * Everything the trainer is configured with, typed. Defaults live in {@link Builder}'s fields and
 * validation in {@link Builder#build()}, nowhere else: the properties file and the environment
 * ({@link TrainerConfig}), the local run, the tests and the benchmarks all go through the
 * builder. A bad value fails with a {@link ConfigException} naming its key.
 *
 * @param adapter the adapter this trainer trains; examples of other adapters are skipped
 * @param seed seeds the adapter's initialisation and each step's dropout
 * @param nonFiniteSteps fault injection for tests: steps whose gradients are made NaN
 */
public record TrainerSettings(
    Kafka kafka,
    String adapter,
    Model model,
    LoraSettings lora,
    long seed,
    Steps steps,
    Optimizer optimizer,
    Eval eval,
    Checkpoints checkpoints,
    Observability observability,
    List<Long> nonFiniteSteps) {

  /**
   * Where the trainer reads and writes.
   *
   * @param registryProperties the schema registry client's keys as given ({@code schema.registry.*},
   *     {@code basic.auth.*}, {@code auto.register.schemas}), kept to hand on to a child process
   * @param clientProperties any other Kafka client property (security, timeouts), passed through
   */
  public record Kafka(String bootstrapServers, Map<String, String> registryProperties,
      String groupId, String transactionalId, String examplesTopic, String deadLetterTopic,
      String checkpointTopic, Map<String, String> clientProperties) {
    public SchemaRegistryConfig registry() {
      return SchemaRegistryConfig.fromMap(registryProperties);
    }
  }

  /**
   * The frozen base model.
   *
   * @param name base_model_name_or_path written into adapter_config.json; blank: the directory
   * @param device cpu, gpu or auto
   */
  public record Model(Path dir, String name, String device) {
    /** What adapter_config.json names as the base model. */
    public String baseModelName() {
      return name.isBlank() ? dir.toString() : name;
    }
  }

  /**
   * How examples become optimizer steps.
   *
   * @param maxLength longer examples are dead letters (TOO_MANY_TOKENS)
   * @param tokenBudget tokens computed per micro-batch, padding included
   * @param pack several examples per row (true) or one per row, bucketed by length
   * @param stepTokens trained tokens per optimizer step
   * @param stepExamples examples per step, if reached first; 0 sizes steps by tokens only
   */
  public record Steps(int maxLength, int tokenBudget, boolean pack, int stepTokens,
      int stepExamples) {}

  /** AdamW and its learning-rate schedule, and global-norm clipping (0 disables it). */
  public record Optimizer(double learningRate, double weightDecay, double beta1, double beta2,
      double eps, int warmupSteps, boolean cosine, int cosineSteps, double clipNorm) {
    public LearningRate schedule() {
      return new LearningRate(learningRate, warmupSteps, cosine, cosineSteps, 0.1);
    }
  }

  /** The held-out slice: a share of conversations (by id hash) and how many are kept. */
  public record Eval(double fraction, int maxExamples) {}

  /** When checkpoints are cut, and the largest chunk a file is cut into. */
  public record Checkpoints(int everySteps, int everySeconds, int chunkBytes) {}

  /** The /metrics and /health endpoint (port 0: none) and the progress line's cadence. */
  public record Observability(int metricsPort, String metricsHost, int progressEverySteps) {}

  public static Builder builder() {
    return new Builder();
  }

  /** A builder holding this record's values, to change a few. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.bootstrapServers = kafka.bootstrapServers();
    b.registryProperties.putAll(kafka.registryProperties());
    b.groupId = kafka.groupId();
    b.transactionalId = kafka.transactionalId();
    b.examplesTopic = kafka.examplesTopic();
    b.deadLetterTopic = kafka.deadLetterTopic();
    b.checkpointTopic = kafka.checkpointTopic();
    b.clientProperties.putAll(kafka.clientProperties());
    b.adapter = adapter;
    b.modelDir = model.dir();
    b.modelName = model.name();
    b.device = model.device();
    b.lora(lora);
    b.seed = seed;
    b.maxLength = steps.maxLength();
    b.tokenBudget = steps.tokenBudget();
    b.pack = steps.pack();
    b.stepTokens = steps.stepTokens();
    b.stepExamples = steps.stepExamples();
    b.learningRate = optimizer.learningRate();
    b.weightDecay = optimizer.weightDecay();
    b.beta1 = optimizer.beta1();
    b.beta2 = optimizer.beta2();
    b.eps = optimizer.eps();
    b.warmupSteps = optimizer.warmupSteps();
    b.cosine = optimizer.cosine();
    b.cosineSteps = optimizer.cosineSteps();
    b.clipNorm = optimizer.clipNorm();
    b.evalFraction = eval.fraction();
    b.evalMaxExamples = eval.maxExamples();
    b.checkpointEverySteps = checkpoints.everySteps();
    b.checkpointEverySeconds = checkpoints.everySeconds();
    b.chunkBytes = checkpoints.chunkBytes();
    b.metricsPort = observability.metricsPort();
    b.metricsHost = observability.metricsHost();
    b.progressEverySteps = observability.progressEverySteps();
    b.nonFiniteSteps = nonFiniteSteps;
    return b;
  }

  /** The defaults are this builder's field values; {@link #build()} validates. */
  public static final class Builder {
    String bootstrapServers;
    final Map<String, String> registryProperties = new LinkedHashMap<>(
        Map.of(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS, "false"));
    String groupId = "";
    String transactionalId = "";
    String examplesTopic = SftTopics.EXAMPLES;
    String deadLetterTopic = SftTopics.EXAMPLES_DLQ;
    String checkpointTopic = SftTopics.ADAPTER_CHECKPOINTS;
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
    int checkpointEverySteps = 50;
    int checkpointEverySeconds = 300;
    int chunkBytes = 524_288;
    int metricsPort = 9401;
    String metricsHost = "0.0.0.0";
    int progressEverySteps = 5;
    List<Long> nonFiniteSteps = List.of();

    private Builder() {}

    public Builder bootstrapServers(String v) {
      bootstrapServers = v;
      return this;
    }

    /** The schema registry's base URL(s), Confluent API. */
    public Builder registryUrl(String v) {
      return registryProperty(SchemaRegistryConfig.URL, v);
    }

    public Builder autoRegisterSchemas(boolean v) {
      return registryProperty(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS, String.valueOf(v));
    }

    /** Any key of {@link SchemaRegistryConfig} (credentials, TLS, retries). */
    public Builder registryProperty(String key, String value) {
      registryProperties.put(key, value);
      return this;
    }

    /** Any Kafka client property (security.protocol, sasl.*, ssl.*, timeouts). */
    public Builder clientProperty(String key, String value) {
      clientProperties.put(key, value);
      return this;
    }

    /** Blank: sft-trainer-&lt;adapter&gt;. */
    public Builder groupId(String v) {
      groupId = v;
      return this;
    }

    /** Blank: sft-trainer-&lt;adapter&gt;, stable per adapter so a second trainer fences the first. */
    public Builder transactionalId(String v) {
      transactionalId = v;
      return this;
    }

    public Builder examplesTopic(String v) {
      examplesTopic = v;
      return this;
    }

    public Builder deadLetterTopic(String v) {
      deadLetterTopic = v;
      return this;
    }

    public Builder checkpointTopic(String v) {
      checkpointTopic = v;
      return this;
    }

    public Builder adapter(String v) {
      adapter = v;
      return this;
    }

    public Builder modelDir(Path v) {
      modelDir = v;
      return this;
    }

    public Builder modelName(String v) {
      modelName = v;
      return this;
    }

    public Builder device(String v) {
      device = v;
      return this;
    }

    public Builder loraR(int v) {
      loraR = v;
      return this;
    }

    public Builder loraAlpha(double v) {
      loraAlpha = v;
      return this;
    }

    public Builder loraDropout(double v) {
      loraDropout = v;
      return this;
    }

    /** Module names (q_proj ... down_proj), or all-linear. */
    public Builder loraTargetModules(List<String> v) {
      loraTargetModules = List.copyOf(v);
      return this;
    }

    public Builder loraRslora(boolean v) {
      loraRslora = v;
      return this;
    }

    public Builder lora(LoraSettings v) {
      return loraR(v.r()).loraAlpha(v.alpha()).loraDropout(v.dropout())
          .loraTargetModules(v.targetModules()).loraRslora(v.useRslora());
    }

    public Builder seed(long v) {
      seed = v;
      return this;
    }

    public Builder maxLength(int v) {
      maxLength = v;
      return this;
    }

    public Builder tokenBudget(int v) {
      tokenBudget = v;
      return this;
    }

    public Builder pack(boolean v) {
      pack = v;
      return this;
    }

    public Builder stepTokens(int v) {
      stepTokens = v;
      return this;
    }

    public Builder stepExamples(int v) {
      stepExamples = v;
      return this;
    }

    public Builder learningRate(double v) {
      learningRate = v;
      return this;
    }

    public Builder weightDecay(double v) {
      weightDecay = v;
      return this;
    }

    public Builder betas(double first, double second) {
      beta1 = first;
      beta2 = second;
      return this;
    }

    public Builder eps(double v) {
      eps = v;
      return this;
    }

    public Builder warmupSteps(int v) {
      warmupSteps = v;
      return this;
    }

    /** Cosine decay after warm-up (true) or a constant rate (false, suited to a stream). */
    public Builder cosine(boolean v) {
      cosine = v;
      return this;
    }

    public Builder cosineSteps(int v) {
      cosineSteps = v;
      return this;
    }

    public Builder clipNorm(double v) {
      clipNorm = v;
      return this;
    }

    public Builder evalFraction(double v) {
      evalFraction = v;
      return this;
    }

    public Builder evalMaxExamples(int v) {
      evalMaxExamples = v;
      return this;
    }

    public Builder checkpointEverySteps(int v) {
      checkpointEverySteps = v;
      return this;
    }

    public Builder checkpointEverySeconds(int v) {
      checkpointEverySeconds = v;
      return this;
    }

    public Builder chunkBytes(int v) {
      chunkBytes = v;
      return this;
    }

    /** 0: no endpoint. */
    public Builder metricsPort(int v) {
      metricsPort = v;
      return this;
    }

    public Builder metricsHost(String v) {
      metricsHost = v;
      return this;
    }

    public Builder progressEverySteps(int v) {
      progressEverySteps = v;
      return this;
    }

    public Builder nonFiniteSteps(List<Long> v) {
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
      Map<String, String> registry = Map.copyOf(registryProperties);
      SchemaRegistryConfig.fromMap(registry); // fails naming the registry key that is wrong
      String derived = "sft-trainer-" + adapter;
      return new TrainerSettings(
          new Kafka(bootstrapServers, registry, groupId.isBlank() ? derived : groupId,
              transactionalId.isBlank() ? derived : transactionalId, examplesTopic,
              deadLetterTopic, checkpointTopic, Map.copyOf(clientProperties)),
          adapter,
          new Model(modelDir, Objects.requireNonNullElse(modelName, ""), device),
          lora,
          seed,
          new Steps(maxLength, tokenBudget, pack, stepTokens, stepExamples),
          new Optimizer(learningRate, weightDecay, beta1, beta2, eps, warmupSteps, cosine,
              cosineSteps, clipNorm),
          new Eval(evalFraction, evalMaxExamples),
          new Checkpoints(checkpointEverySteps, checkpointEverySeconds, chunkBytes),
          new Observability(metricsPort, metricsHost, progressEverySteps),
          nonFiniteSteps);
    }

    private static void required(String key, String value) {
      if (value == null || value.isBlank()) {
        throw new ConfigException(key + " is required (environment: "
            + io.continualsft.runtime.config.LayeredConfig.envName(key) + ")");
      }
    }

    private static void atLeast(String key, long value, long min) {
      if (value < min) {
        throw new ConfigException(key, value, "must be >= " + min);
      }
    }
  }
}
