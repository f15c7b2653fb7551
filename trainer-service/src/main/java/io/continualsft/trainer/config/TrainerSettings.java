package io.continualsft.trainer.config;

import static io.continualsft.trainer.config.TrainerConfig.*;

import io.continualsft.chat.labels.AllowedAdapters;
import io.continualsft.chat.labels.Identifiers;
import io.continualsft.chat.labels.LabelingKeys;
import io.continualsft.chat.labels.LabelingSettings;
import io.continualsft.runtime.config.Secrets;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.trainer.lora.LoraSettings;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.apache.kafka.common.config.ConfigException;

/**
 * Everything the trainer is configured with, typed. Each record checks its own components in
 * its constructor and fails with a {@link ConfigException} naming the key; defaults and the
 * keys' meanings are {@link TrainerConfig}'s. Every source of settings goes through the same
 * key table: the properties file and the environment, and the {@link #builder()} that the local
 * run, the tests and the benchmarks use.
 *
 * @param adapter the adapter this trainer trains, examples of other adapters skipped; or {@link
 *     #EVERY_ADAPTER}: every adapter whose examples are in the partitions the group assigns it
 * @param seed seeds the adapter's initialisation and each step's dropout
 * @param labels how the retention set is labelled: the streams app's rules and template
 * @param objectives what each adapter learns from, and KTO's settings
 * @param erasure where erasure requests come from, and how long requests are batched
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
    Objectives objectives,
    Adapters adapters,
    Labels labels,
    Erasure erasure,
    List<Long> nonFiniteSteps) {

  /** {@code adapter.id=*}: train every adapter of the partitions this trainer is assigned. */
  public static final String EVERY_ADAPTER = "*";

  public TrainerSettings {
    ADAPTER.check(adapter.equals(EVERY_ADAPTER) || Identifiers.ADAPTER.matcher(adapter).matches(),
        adapter, "must be * (every adapter of the assigned partitions) or an adapter name: "
            + Identifiers.ADAPTER.pattern());
    ADAPTERS_ALLOWED.check(adapter.equals(EVERY_ADAPTER) || adapters.allowed().allows(adapter),
        adapters.allowed(), "does not allow adapter.id " + adapter);
    REPLAY_RETENTION_SHARE.check(replay.retentionShare() == 0 || retention.configured(),
        replay.retentionShare(), "needs a retention set (" + RETENTION_FILE.key() + " or "
            + RETENTION_TOPIC.key() + ")");
    if (objectives.spec().possible(adapter, adapter.equals(EVERY_ADAPTER))
        .contains(AdapterObjectives.Kind.KTO)) {
      TOPIC_PREFERENCE_EXAMPLES.check(!objectives.preferenceTopic().isBlank()
          && !objectives.preferenceTopic().equals(kafka.examplesTopic()),
          objectives.preferenceTopic(), "must name the preference examples topic (not "
          + TOPIC_EXAMPLES.key() + ") when an adapter learns by kto");
    }
    nonFiniteSteps = List.copyOf(nonFiniteSteps);
  }

  static TrainerSettings from(TrainerConfig.Values v) {
    String adapter = v.get(ADAPTER);
    LoraSettings lora = lora(v);
    return new TrainerSettings(Kafka.from(v, adapter), adapter, Model.from(v), lora,
        v.get(SEED), Steps.from(v), Optimizer.from(v), Eval.from(v), Checkpoints.from(v),
        Observability.from(v), Gate.from(v), Retention.from(v), Replay.from(v),
        Objectives.from(v), Adapters.from(v, lora), Labels.from(v), Erasure.from(v), v.get(NON_FINITE_STEPS));
  }

  private static LoraSettings lora(TrainerConfig.Values v) {
    try {
      return new LoraSettings(v.get(LORA_R), v.get(LORA_ALPHA), v.get(LORA_DROPOUT),
          v.get(LORA_TARGET_MODULES), v.get(LORA_RSLORA));
    } catch (IllegalArgumentException e) {
      throw new ConfigException("lora.*: " + e.getMessage());
    }
  }

  /** Whether this trainer trains every adapter of its partitions (not one named adapter). */
  public boolean everyAdapter() {
    return adapter.equals(EVERY_ADAPTER);
  }

  /** Whether {@code name}'s examples are this trainer's to train. */
  public boolean trains(String name) {
    return everyAdapter() || adapter.equals(name);
  }

  /** The objective of adapter {@code name}. */
  public AdapterObjectives.Kind objectiveOf(String name) {
    return objectives.spec().of(name);
  }

  /**
   * The topics this trainer reads: the examples topic for SFT adapters and the preference
   * examples topic for KTO adapters, those of the objectives its adapters may have.
   */
  public List<String> inputTopics() {
    return objectives.spec().possible(adapter, everyAdapter()).stream().sorted()
        .map(this::inputTopic).toList();
  }

  /** The topic an adapter learning by {@code kind} reads: the examples or preference examples. */
  public String inputTopic(AdapterObjectives.Kind kind) {
    return switch (kind) {
      case SFT -> kafka.examplesTopic();
      case KTO -> objectives.preferenceTopic();
    };
  }

  /** The LoRA settings of adapter {@code name}: its override, else {@link #lora()}. */
  public LoraSettings loraFor(String name) {
    return adapters.loraOverrides().getOrDefault(name, lora);
  }

  /**
   * Many adapters on one base: at most {@code maxResident} keep their weights and optimizer
   * moments in memory (the least recently trained one is checkpointed and evicted past that),
   * which adapters may exist and how many one trainer keeps accounting for, and per-adapter LoRA
   * settings that replace {@code lora.*} for the adapters named.
   */
  public record Adapters(int maxResident, AllowedAdapters allowed, int maxKnown,
      Map<String, LoraSettings> loraOverrides) {
    public Adapters {
      MAX_RESIDENT_ADAPTERS.check(maxResident >= 1, maxResident, "must be >= 1");
      MAX_KNOWN_ADAPTERS.check(maxKnown >= 1, maxKnown, "must be >= 1");
      java.util.Objects.requireNonNull(allowed, ADAPTERS_ALLOWED.key());
      loraOverrides = Map.copyOf(loraOverrides);
    }

    static Adapters from(TrainerConfig.Values v, LoraSettings lora) {
      return new Adapters(v.get(MAX_RESIDENT_ADAPTERS), v.get(ADAPTERS_ALLOWED),
          v.get(MAX_KNOWN_ADAPTERS), LoraOverrides.parse(v.get(LORA_OVERRIDES), lora));
    }
  }

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
    public Kafka {
      for (var required : List.of(Map.entry(TOPIC_EXAMPLES, examplesTopic),
          Map.entry(TOPIC_DEAD_LETTERS, deadLetterTopic),
          Map.entry(TOPIC_CHECKPOINTS, checkpointTopic), Map.entry(GROUP_ID, groupId),
          Map.entry(TRANSACTIONAL_ID, transactionalId))) {
        required.getKey().check(!required.getValue().isBlank(), required.getValue(),
            "must not be empty");
      }
      registryProperties = Map.copyOf(registryProperties);
      clientProperties = Map.copyOf(clientProperties);
      SchemaRegistryConfig.fromMap(registryProperties); // fails naming the registry key
    }

    /**
     * The group is {@code sft-trainer-<adapter>}, or {@code sft-trainers} with {@code
     * adapter.id=*}, unless given; so is the transactional id, except that with {@code *} every
     * trainer of the group needs one of its own: the group's generation (the consumer's group
     * metadata sent with the offsets) fences a zombie then, not the id. A random suffix, as
     * Kafka Streams' process id.
     */
    static Kafka from(TrainerConfig.Values v, String adapter) {
      boolean every = adapter.equals(EVERY_ADAPTER);
      String group = v.get(GROUP_ID);
      group = group.isBlank() ? (every ? "sft-trainers" : "sft-trainer-" + adapter) : group;
      String transactional = v.get(TRANSACTIONAL_ID);
      transactional = !transactional.isBlank() ? transactional
          : every ? group + "-" + UUID.randomUUID().toString().substring(0, 8)
          : "sft-trainer-" + adapter;
      return new Kafka(v.get(BOOTSTRAP_SERVERS), v.registryProperties(), group, transactional,
          v.get(TOPIC_EXAMPLES), v.get(TOPIC_DEAD_LETTERS), v.get(TOPIC_CHECKPOINTS),
          v.get(TOPIC_RELEASES), v.clientProperties());
    }

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
    static Model from(TrainerConfig.Values v) {
      return new Model(v.get(MODEL_DIR), v.get(MODEL_NAME), v.get(DEVICE));
    }

    /** What adapter_config.json names as the base model. */
    public String baseModelName() {
      return name.isBlank() ? dir.toString() : name;
    }
  }

  /**
   * How examples become optimizer steps.
   *
   * @param maxLength longer examples are dead letters (TOO_MANY_TOKENS)
   * @param tokenBudget tokens computed per micro-batch, padding included; 0: auto, sized by the
   *     model ({@code TrainingPlan})
   * @param pack several examples per row (true) or one per row, bucketed by length
   * @param stepTokens trained tokens per optimizer step
   * @param stepExamples examples per step, if reached first; 0 sizes steps by tokens only
   * @param precision auto, fp32, bf16 or fp16: the base weights' (see {@code Precision})
   * @param recompute whether layers' activations are recomputed in backward
   * @param attentionBlock rows longer than this compute attention in blocks of this many queries
   */
  public record Steps(int maxLength, int tokenBudget, boolean pack, int stepTokens,
      int stepExamples, String precision, Recompute recompute, int attentionBlock) {
    public Steps {
      MAX_LENGTH.check(maxLength >= 1, maxLength, "must be >= 1");
      ATTENTION_BLOCK.check(attentionBlock >= 16, attentionBlock, "must be >= 16");
      STEP_TOKENS.check(stepTokens >= 1, stepTokens, "must be >= 1");
      STEP_EXAMPLES.check(stepExamples >= 0, stepExamples, "must be >= 0");
      TOKEN_BUDGET.check(tokenBudget >= 0, tokenBudget, "must be auto or >= 1");
    }

    static Steps from(TrainerConfig.Values v) {
      return new Steps(v.get(MAX_LENGTH), v.get(TOKEN_BUDGET), v.get(PACK), v.get(STEP_TOKENS),
          v.get(STEP_EXAMPLES), v.get(PRECISION), v.get(RECOMPUTE), v.get(ATTENTION_BLOCK));
    }
  }

  /** AdamW and its learning-rate schedule, and global-norm clipping (0 disables it). */
  public record Optimizer(double learningRate, double weightDecay, double beta1, double beta2,
      double eps, int warmupSteps, boolean cosine, int cosineSteps, double clipNorm) {
    public Optimizer {
      LEARNING_RATE.check(learningRate > 0 && Double.isFinite(learningRate), learningRate,
          "must be > 0");
      WEIGHT_DECAY.check(weightDecay >= 0, weightDecay, "must be >= 0");
      BETAS.check(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, beta1 + "," + beta2,
          "each must be in [0, 1)");
      EPS.check(eps > 0, eps, "must be > 0");
      WARMUP_STEPS.check(warmupSteps >= 0, warmupSteps, "must be >= 0");
      COSINE_STEPS.check(cosineSteps >= 1, cosineSteps, "must be >= 1");
      CLIP_NORM.check(clipNorm >= 0, clipNorm, "must be >= 0 (0 disables)");
    }

    static Optimizer from(TrainerConfig.Values v) {
      List<Double> betas = v.get(BETAS);
      BETAS.check(betas.size() == 2, betas, "must be two numbers");
      return new Optimizer(v.get(LEARNING_RATE), v.get(WEIGHT_DECAY), betas.get(0),
          betas.get(1), v.get(EPS), v.get(WARMUP_STEPS), v.get(COSINE), v.get(COSINE_STEPS),
          v.get(CLIP_NORM));
    }
  }

  /** The held-out slice: a share of conversations (by id hash) and how many are kept. */
  public record Eval(double fraction, int maxExamples) {
    public Eval {
      EVAL_FRACTION.check(fraction >= 0 && fraction < 1, fraction, "must be in [0, 1)");
      EVAL_MAX_EXAMPLES.check(maxExamples >= 0, maxExamples, "must be >= 0");
    }

    static Eval from(TrainerConfig.Values v) {
      return new Eval(v.get(EVAL_FRACTION), v.get(EVAL_MAX_EXAMPLES));
    }
  }

  /** When checkpoints are cut, and the largest chunk a file is cut into. */
  public record Checkpoints(int everySteps, int everySeconds, int chunkBytes) {
    public Checkpoints {
      CHECKPOINT_EVERY_STEPS.check(everySteps >= 1, everySteps, "must be >= 1");
      CHECKPOINT_EVERY_SECONDS.check(everySeconds >= 1, everySeconds, "must be >= 1");
      CHUNK_BYTES.check(chunkBytes >= 1024, chunkBytes, "must be >= 1024");
    }

    static Checkpoints from(TrainerConfig.Values v) {
      return new Checkpoints(v.get(CHECKPOINT_EVERY_STEPS), v.get(CHECKPOINT_EVERY_SECONDS),
          v.get(CHUNK_BYTES));
    }
  }

  /** The /metrics and /health endpoint (port 0: none) and the progress line's cadence. */
  public record Observability(int metricsPort, String metricsHost, int progressEverySteps) {
    public Observability {
      METRICS_PORT.check(metricsPort >= 0 && metricsPort <= 65_535, metricsPort,
          "must be a port, or 0");
      PROGRESS_EVERY_STEPS.check(progressEverySteps >= 1, progressEverySteps, "must be >= 1");
    }

    static Observability from(TrainerConfig.Values v) {
      return new Observability(v.get(METRICS_PORT), v.get(METRICS_HOST),
          v.get(PROGRESS_EVERY_STEPS));
    }
  }

  /** Whether layers' activations are recomputed in backward (gradient checkpointing). */
  public enum Recompute {
    /** For each micro-batch whose activations would exceed 2 GiB. */
    AUTO,
    ON,
    OFF
  }

  /** Which candidates the trainer releases. */
  public enum ReleasePolicy {
    /** Those the evaluation gate passes (the default). */
    GATE,
    /** Every checkpoint, as soon as it is cut (no gate). */
    EVERY_CANDIDATE,
    /** None: releases are made by hand ({@code trainer-service release --to}). */
    MANUAL
  }

  /**
   * The evaluation gate: a candidate is released only when its new-data eval loss is at most
   * {@code 1 + maxEvalIncrease} times the release's on the same held-out examples, and its
   * retention loss at most {@code 1 + maxRetentionIncrease} times the release's (the base
   * model's before the first release); either may also be up to {@code absoluteTolerance} above
   * the release's, whichever allows more.
   */
  public record Gate(ReleasePolicy policy, double maxEvalIncrease, double maxRetentionIncrease,
      double absoluteTolerance) {
    public Gate {
      GATE_MAX_EVAL_INCREASE.check(maxEvalIncrease >= 0 && Double.isFinite(maxEvalIncrease),
          maxEvalIncrease, "must be >= 0 (a relative increase: 0.02 allows 2 % worse)");
      GATE_MAX_RETENTION_INCREASE.check(maxRetentionIncrease >= 0
          && Double.isFinite(maxRetentionIncrease), maxRetentionIncrease,
          "must be >= 0 (a relative increase: 0.05 allows 5 % worse)");
      GATE_ABSOLUTE_TOLERANCE.check(absoluteTolerance >= 0 && Double.isFinite(absoluteTolerance),
          absoluteTolerance, "must be >= 0 (nats)");
    }

    static Gate from(TrainerConfig.Values v) {
      return new Gate(v.get(RELEASE_POLICY), v.get(GATE_MAX_EVAL_INCREASE),
          v.get(GATE_MAX_RETENTION_INCREASE), v.get(GATE_ABSOLUTE_TOLERANCE));
    }
  }

  /**
   * The retention set: conversations standing for what the adapter must keep, from a JSONL file
   * or a topic of Avro Conversations, labelled as the stream is and never trained on (unless
   * replay draws from it).
   */
  public record Retention(Optional<Path> file, String topic, int maxExamples) {
    public Retention {
      RETENTION_FILE.check(file.isEmpty() || topic.isBlank(), file.orElse(null), "give "
          + RETENTION_FILE.key() + " or " + RETENTION_TOPIC.key() + ", not both");
      RETENTION_FILE.check(file.isEmpty() || java.nio.file.Files.isRegularFile(file.get()),
          file.orElse(null), "is not a file");
      RETENTION_MAX_EXAMPLES.check(maxExamples >= 1, maxExamples, "must be >= 1");
      RETENTION_MAX_EXAMPLES.check(maxExamples <= 100_000, maxExamples, "must be <= 100000 (the"
          + " set is held in memory and scored at every checkpoint)");
    }

    static Retention from(TrainerConfig.Values v) {
      return new Retention(v.get(RETENTION_FILE), v.get(RETENTION_TOPIC),
          v.get(RETENTION_MAX_EXAMPLES));
    }

    boolean configured() {
      return file.isPresent() || !topic.isBlank();
    }
  }

  /**
   * Replay against forgetting: {@code fraction} (ρ) of each step's examples are drawn back from
   * examples already trained, read from the examples topic by offset; {@code retentionShare} of
   * those come from the retention set instead.
   */
  public record Replay(double fraction, double retentionShare) {
    public Replay {
      REPLAY_FRACTION.check(fraction >= 0 && fraction <= 0.9, fraction, "must be in [0, 0.9]");
      REPLAY_RETENTION_SHARE.check(retentionShare >= 0 && retentionShare <= 1, retentionShare,
          "must be in [0, 1]");
    }

    static Replay from(TrainerConfig.Values v) {
      return new Replay(v.get(REPLAY_FRACTION), v.get(REPLAY_RETENTION_SHARE));
    }

    /** Replayed examples to add to a step of {@code fresh} new ones: ρ/(1-ρ) of them, rounded. */
    public int count(int fresh) {
      return fraction == 0 ? 0 : (int) Math.round(fresh * fraction / (1 - fraction));
    }
  }

  /**
   * What each adapter learns from ({@code objective}): SFT adapters from the examples topic, KTO
   * adapters from {@code preferenceTopic}, with KTO's β and weights.
   */
  public record Objectives(AdapterObjectives spec, String preferenceTopic, double beta,
      double desirableWeight, double undesirableWeight) {
    public Objectives {
      java.util.Objects.requireNonNull(spec, OBJECTIVE.key());
      KTO_BETA.check(beta > 0 && Double.isFinite(beta), beta, "must be a positive number");
      KTO_DESIRABLE_WEIGHT.check(desirableWeight >= 0 && Double.isFinite(desirableWeight),
          desirableWeight, "must be >= 0");
      KTO_UNDESIRABLE_WEIGHT.check(undesirableWeight >= 0 && Double.isFinite(undesirableWeight),
          undesirableWeight, "must be >= 0");
    }

    static Objectives from(TrainerConfig.Values v) {
      return new Objectives(v.get(OBJECTIVE), v.get(TOPIC_PREFERENCE_EXAMPLES), v.get(KTO_BETA),
          v.get(KTO_DESIRABLE_WEIGHT), v.get(KTO_UNDESIRABLE_WEIGHT));
    }
  }

  /**
   * Erasure requests: read from {@code topic} (empty: none, nothing is ever erased); requests
   * that arrive within {@code batchWindowSeconds} of the first are handled in one rewind.
   */
  public record Erasure(String topic, int batchWindowSeconds) {
    public Erasure {
      ERASURE_BATCH_WINDOW.check(batchWindowSeconds >= 0 && batchWindowSeconds <= 86_400,
          batchWindowSeconds, "must be in [0, 86400] seconds");
    }

    static Erasure from(TrainerConfig.Values v) {
      return new Erasure(v.get(ERASURE_TOPIC), v.get(ERASURE_BATCH_WINDOW));
    }
  }

  /** The labelling rules and chat template ({@link LabelingKeys}), as the streams app's. */
  public record Labels(String templateName, LabelingSettings rules) {
    static Labels from(TrainerConfig.Values v) {
      return new Labels(LabelingKeys.templateName(v::raw), LabelingKeys.read(v::raw));
    }
  }

  /** A builder with every default: set what differs, then {@code build()}. */
  public static Builder builder() {
    return new Builder();
  }

  /** A builder holding this record's values, to change a few. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.values.putAll(TrainerConfig.toProperties(this));
    return b;
  }

  /**
   * Settings in code (the local run, the tests, the benchmarks), by the same keys as a properties
   * file: {@code builder().set(TrainerConfig.STEP_TOKENS, 32).build()}. Values go through their
   * setting's text, so settings built here equal those a file with the same values gives.
   */
  public static final class Builder {
    private final Map<String, String> values = new LinkedHashMap<>();

    private Builder() {}

    public <T> Builder set(Setting<T> setting, T value) {
      values.put(setting.key(), setting.print(value));
      return this;
    }

    /** A decimal setting from any number ({@code set(LORA_ALPHA, 16)}). */
    public Builder set(Setting<Double> setting, double value) {
      return set(setting, Double.valueOf(value));
    }

    /** A long setting from any whole number ({@code set(SEED, 11)}). */
    public Builder set(Setting<Long> setting, long value) {
      return set(setting, Long.valueOf(value));
    }

    /** Any other key: a labelling key, the registry client's, or a Kafka client property. */
    public Builder set(String key, String value) {
      values.put(key, value);
      return this;
    }

    /** The five {@code lora.*} keys from {@code lora}. */
    public Builder lora(LoraSettings lora) {
      return set(LORA_R, lora.r()).set(LORA_ALPHA, lora.alpha())
          .set(LORA_DROPOUT, lora.dropout()).set(LORA_TARGET_MODULES, lora.targetModules())
          .set(LORA_RSLORA, lora.useRslora());
    }

    /** Adapter {@code name} gets {@code lora} instead of {@code lora.*}. */
    public Builder loraOverride(String name, LoraSettings lora) {
      String one = LoraOverrides.render(Map.of(name, lora));
      String spec = values.getOrDefault(LORA_OVERRIDES.key(), "");
      values.put(LORA_OVERRIDES.key(), spec.isBlank() ? one : spec + "; " + one);
      return this;
    }

    /** Checks every value; the first that is wrong fails with a ConfigException naming its key. */
    public TrainerSettings build() {
      return TrainerConfig.fromMap(values);
    }
  }
}
