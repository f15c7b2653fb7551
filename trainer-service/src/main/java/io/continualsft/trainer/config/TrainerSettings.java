package io.continualsft.trainer.config;

import io.continualsft.runtime.config.Secrets;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.trainer.lora.LoraSettings;
import io.continualsft.trainer.train.LearningRate;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Everything the trainer is configured with, typed. Defaults live in {@link
 * TrainerSettingsBuilder}'s fields and validation in its {@code build()}, nowhere else: the
 * properties file and the environment ({@link TrainerConfig}), the local run, the tests and the
 * benchmarks all go through the builder. A bad value fails with a {@code ConfigException} naming
 * its key.
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

    @Override
    public String toString() {
      // Never the secrets (SASL's JAAS line, store passwords, registry credentials).
      return "Kafka[bootstrapServers=" + bootstrapServers + ", registry="
          + Secrets.redacted(registryProperties) + ", groupId=" + groupId + ", transactionalId="
          + transactionalId + ", examplesTopic=" + examplesTopic + ", deadLetterTopic="
          + deadLetterTopic + ", checkpointTopic=" + checkpointTopic + ", clientProperties="
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
}
