package io.continualsft.trainer.config;

import io.continualsft.runtime.config.Secrets;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.trainer.lora.LoraSettings;
import io.continualsft.trainer.train.LearningRate;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Everything the trainer is configured with, typed. Defaults live in {@link
 * TrainerSettingsBuilder}'s fields and validation in its {@code build()}, nowhere else: the
 * properties file and the environment ({@link TrainerConfig}), the local run, the tests and the
 * benchmarks all go through the builder. A bad value fails with a {@code ConfigException} naming
 * its key.
 *
 * @param adapter the adapter this trainer trains, examples of other adapters skipped; or {@link
 *     #EVERY_ADAPTER}: every adapter whose examples are in the partitions the group assigns it
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
    Gate gate,
    Retention retention,
    Replay replay,
    Adapters adapters,
    List<Long> nonFiniteSteps) {

  /** {@code adapter.id=*}: train every adapter of the partitions this trainer is assigned. */
  public static final String EVERY_ADAPTER = "*";

  /** Whether this trainer trains every adapter of its partitions (not one named adapter). */
  public boolean everyAdapter() {
    return adapter.equals(EVERY_ADAPTER);
  }

  /** Whether {@code name}'s examples are this trainer's to train. */
  public boolean trains(String name) {
    return everyAdapter() || adapter.equals(name);
  }

  /** The LoRA settings of adapter {@code name}: its override, else {@link #lora()}. */
  public LoraSettings loraFor(String name) {
    return adapters.loraOverrides().getOrDefault(name, lora);
  }

  /**
   * Many adapters on one base: at most {@code maxResident} keep their weights and optimizer
   * moments in memory (the least recently trained one is checkpointed and evicted past that),
   * and per-adapter LoRA settings that replace {@code lora.*} for the adapters named.
   */
  public record Adapters(int maxResident, Map<String, LoraSettings> loraOverrides) {}

  /**
   * Where the trainer reads and writes.
   *
   * @param registryProperties the schema registry client's keys as given ({@code schema.registry.*},
   *     {@code basic.auth.*}, {@code auto.register.schemas}), kept to hand on to a child process
   * @param clientProperties any other Kafka client property (security, timeouts), passed through
   */
  public record Kafka(String bootstrapServers, Map<String, String> registryProperties,
      String groupId, String transactionalId, String examplesTopic, String deadLetterTopic,
      String checkpointTopic, String releasesTopic, Map<String, String> clientProperties) {
    public SchemaRegistryConfig registry() {
      return SchemaRegistryConfig.fromMap(registryProperties);
    }

    @Override
    public String toString() {
      // Never the secrets (SASL's JAAS line, store passwords, registry credentials).
      return "Kafka[bootstrapServers=" + bootstrapServers + ", registry="
          + Secrets.redacted(registryProperties) + ", groupId=" + groupId + ", transactionalId="
          + transactionalId + ", examplesTopic=" + examplesTopic + ", deadLetterTopic="
          + deadLetterTopic + ", checkpointTopic=" + checkpointTopic + ", releasesTopic="
          + releasesTopic + ", clientProperties="
          + Secrets.redacted(clientProperties) + "]";
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

  /** Which candidates the trainer releases. */
  public enum ReleasePolicy {
    /** Those the evaluation gate passes (the default). */
    GATE,
    /** Every checkpoint, as soon as it is cut (no gate). */
    EVERY_CANDIDATE,
    /** None: releases are made by hand ({@code trainer-service release --to}). */
    MANUAL;

    /** gate, every-candidate, manual: as the configuration writes it. */
    public String key() {
      return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }
  }

  /**
   * The evaluation gate: a candidate is released only when its new-data eval loss is at most
   * {@code 1 + maxEvalIncrease} times the release's on the same held-out examples, and its
   * retention loss at most {@code 1 + maxRetentionIncrease} times the release's (the base
   * model's before the first release); either may also be up to {@code absoluteTolerance} above
   * the release's, whichever allows more.
   */
  public record Gate(ReleasePolicy policy, double maxEvalIncrease, double maxRetentionIncrease,
      double absoluteTolerance) {}

  /**
   * The retention set: conversations standing for what the adapter must keep, from a JSONL file
   * or a topic of Avro Conversations, labelled as the stream is and never trained on (unless
   * replay draws from it).
   */
  public record Retention(Optional<Path> file, String topic, int maxExamples) {
    public boolean configured() {
      return file.isPresent() || !topic.isBlank();
    }
  }

  /**
   * Replay against forgetting: {@code fraction} (ρ) of each step's examples are drawn back from
   * examples already trained, read from the examples topic by offset; {@code retentionShare} of
   * those come from the retention set instead.
   */
  public record Replay(double fraction, double retentionShare) {
    /** Replayed examples to add to a step of {@code fresh} new ones: ρ/(1-ρ) of them, rounded. */
    public int count(int fresh) {
      return fraction == 0 ? 0 : (int) Math.round(fresh * fraction / (1 - fraction));
    }
  }

  /** A builder with every default: set what differs, then {@code build()}. */
  public static TrainerSettingsBuilder builder() {
    return new TrainerSettingsBuilder();
  }

  /** A builder holding this record's values, to change a few. */
  public TrainerSettingsBuilder toBuilder() {
    TrainerSettingsBuilder b = new TrainerSettingsBuilder();
    b.bootstrapServers = kafka.bootstrapServers();
    b.registryProperties.putAll(kafka.registryProperties());
    b.groupId = kafka.groupId();
    b.transactionalId = kafka.transactionalId();
    b.examplesTopic = kafka.examplesTopic();
    b.deadLetterTopic = kafka.deadLetterTopic();
    b.checkpointTopic = kafka.checkpointTopic();
    b.releasesTopic = kafka.releasesTopic();
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
    b.releasePolicy = gate.policy();
    b.gateMaxEvalIncrease = gate.maxEvalIncrease();
    b.gateMaxRetentionIncrease = gate.maxRetentionIncrease();
    b.gateAbsoluteTolerance = gate.absoluteTolerance();
    b.retentionFile = retention.file().orElse(null);
    b.retentionTopic = retention.topic();
    b.retentionMaxExamples = retention.maxExamples();
    b.replayFraction = replay.fraction();
    b.replayRetentionShare = replay.retentionShare();
    b.maxResidentAdapters = adapters.maxResident();
    b.loraOverrides = LoraOverrides.render(adapters.loraOverrides());
    b.nonFiniteSteps = nonFiniteSteps;
    return b;
  }
}
