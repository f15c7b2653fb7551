package io.continualsft.trainer.service;

import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.runtime.config.LayeredConfig;
import io.continualsft.trainer.lora.LoraSettings;
import io.continualsft.trainer.train.LearningRate;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;

/**
 * The trainer's configuration, layered as the streams app's ({@link LayeredConfig}): a properties
 * file, then {@code SFT_<KEY>} environment variables. Every key is in {@link #KEYS} with its
 * default and meaning.
 */
public final class TrainerConfig {
  public static final Map<String, LayeredConfig.Key> KEYS = LayeredConfig.keys(
      new LayeredConfig.Key("bootstrap.servers", null, "Kafka bootstrap servers."),
      new LayeredConfig.Key(SchemaRegistryConfig.URL, null, "Schema registry base URL(s), Confluent API."),
      new LayeredConfig.Key(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS, "false",
          "Register the checkpoint and dead-letter schemas if missing."),
      new LayeredConfig.Key("adapter.id", "default", "The adapter this instance trains; others are skipped."),
      new LayeredConfig.Key("topic.examples", "sft.examples", "Input topic (Avro SftExample)."),
      new LayeredConfig.Key("topic.dead-letters", "sft.examples.dlq", "Dead letters (Avro Rejection)."),
      new LayeredConfig.Key("topic.checkpoints", "sft.adapter-checkpoints", "Checkpoint topic (Avro CheckpointRecord)."),
      new LayeredConfig.Key("group.id", "", "Consumer group; empty: sft-trainer-<adapter.id>."),
      new LayeredConfig.Key("transactional.id", "", "Producer transactional id; empty: sft-trainer-<adapter.id>."
          + " Stable per adapter, so a second trainer fences the first."),
      new LayeredConfig.Key("model.dir", null, "Base model directory (config.json, model.safetensors, tokenizer.json)."),
      new LayeredConfig.Key("model.name", "", "base_model_name_or_path in adapter_config.json; empty: model.dir."),
      new LayeredConfig.Key("device", "cpu", "cpu, gpu or auto."),
      new LayeredConfig.Key("lora.r", "8", "LoRA rank."),
      new LayeredConfig.Key("lora.alpha", "16", "lora_alpha."),
      new LayeredConfig.Key("lora.dropout", "0.0", "lora_dropout."),
      new LayeredConfig.Key("lora.target-modules", "q_proj,v_proj", "Comma-separated modules, or all-linear."),
      new LayeredConfig.Key("lora.use-rslora", "false", "Scale by alpha/sqrt(r)."),
      new LayeredConfig.Key("seed", "0", "Seed of adapter initialisation and dropout."),
      new LayeredConfig.Key("train.max-length", "2048", "Longer examples are dead letters (TOO_MANY_TOKENS)."),
      new LayeredConfig.Key("batch.token-budget", "4096", "Tokens computed per micro-batch, padding included."),
      new LayeredConfig.Key("batch.mode", "bucket", "bucket (one example per row, by length) or pack."),
      new LayeredConfig.Key("step.tokens", "2048", "Trained tokens per optimizer step."),
      new LayeredConfig.Key("step.examples", "0",
          "Examples per optimizer step, if reached before step.tokens; 0 sizes steps by tokens only."),
      new LayeredConfig.Key("optimizer.lr", "1e-4", "Peak learning rate."),
      new LayeredConfig.Key("optimizer.weight-decay", "0.0", "AdamW weight decay."),
      new LayeredConfig.Key("optimizer.betas", "0.9,0.999", "AdamW betas."),
      new LayeredConfig.Key("optimizer.eps", "1e-8", "AdamW epsilon."),
      new LayeredConfig.Key("lr.warmup-steps", "10", "Linear warm-up steps."),
      new LayeredConfig.Key("lr.schedule", "constant", "constant (after warm-up) or cosine."),
      new LayeredConfig.Key("lr.cosine-steps", "10000", "Steps of cosine decay (schedule cosine)."),
      new LayeredConfig.Key("grad.clip-norm", "1.0", "Global gradient-norm clip; 0 disables."),
      new LayeredConfig.Key("eval.fraction", "0.02", "Share of conversations held out (by id hash) for eval loss."),
      new LayeredConfig.Key("eval.max-examples", "32", "Held-out examples kept for the eval loss."),
      new LayeredConfig.Key("checkpoint.every-steps", "50", "Publish a checkpoint every N optimizer steps."),
      new LayeredConfig.Key("checkpoint.every-seconds", "300", "... or after this many seconds with progress."),
      new LayeredConfig.Key("checkpoint.chunk-bytes", "524288", "Largest chunk of a checkpoint file."),
      new LayeredConfig.Key("metrics.port", "9401", "Port of /metrics and /health; 0 disables."),
      new LayeredConfig.Key("metrics.host", "0.0.0.0", "Address the metrics endpoint binds to."),
      new LayeredConfig.Key("progress.every-steps", "5", "Print a progress line every N steps."),
      new LayeredConfig.Key("debug.nonfinite-steps", "", "Fault injection for tests: steps whose gradients are"
          + " made NaN (comma-separated)."));

  private final Map<String, String> values;

  private TrainerConfig(Map<String, String> values) {
    this.values = values;
    LayeredConfig.requireAll(values, KEYS);
    lora();
    schedule();
  }

  public static TrainerConfig load(Path file, Map<String, String> env) {
    return new TrainerConfig(LayeredConfig.read(file, env, KEYS));
  }

  public static TrainerConfig of(Map<String, String> values) {
    return new TrainerConfig(new LinkedHashMap<>(values));
  }

  public String get(String key) {
    return LayeredConfig.get(values, KEYS, key);
  }

  public int getInt(String key) {
    try {
      return Integer.parseInt(get(key).trim());
    } catch (NumberFormatException e) {
      throw new ConfigException(key, get(key), "must be a whole number");
    }
  }

  public double getDouble(String key) {
    try {
      return Double.parseDouble(get(key).trim());
    } catch (NumberFormatException e) {
      throw new ConfigException(key, get(key), "must be a number");
    }
  }

  public boolean getBoolean(String key) {
    String v = get(key).trim();
    if (!v.equalsIgnoreCase("true") && !v.equalsIgnoreCase("false")) {
      throw new ConfigException(key, v, "must be true or false");
    }
    return Boolean.parseBoolean(v);
  }

  public String adapter() {
    return get("adapter.id");
  }

  public String groupId() {
    return get("group.id").isBlank() ? "sft-trainer-" + adapter() : get("group.id");
  }

  public String transactionalId() {
    return get("transactional.id").isBlank() ? "sft-trainer-" + adapter() : get("transactional.id");
  }

  public Path modelDir() {
    return Path.of(get("model.dir"));
  }

  public LoraSettings lora() {
    try {
      return new LoraSettings(getInt("lora.r"), getDouble("lora.alpha"), getDouble("lora.dropout"),
          Arrays.stream(get("lora.target-modules").split(",")).map(String::trim).toList(),
          getBoolean("lora.use-rslora"));
    } catch (IllegalArgumentException e) {
      throw new ConfigException("lora.*: " + e.getMessage());
    }
  }

  public LearningRate schedule() {
    String kind = get("lr.schedule");
    if (!kind.equals("constant") && !kind.equals("cosine")) {
      throw new ConfigException("lr.schedule", kind, "must be constant or cosine");
    }
    return new LearningRate(getDouble("optimizer.lr"), getInt("lr.warmup-steps"),
        kind.equals("cosine"), getInt("lr.cosine-steps"), 0.1);
  }

  public double[] betas() {
    String[] parts = get("optimizer.betas").split(",");
    if (parts.length != 2) {
      throw new ConfigException("optimizer.betas", get("optimizer.betas"), "must be two numbers");
    }
    return new double[] {Double.parseDouble(parts[0].trim()), Double.parseDouble(parts[1].trim())};
  }

  public boolean pack() {
    String mode = get("batch.mode");
    if (!mode.equals("bucket") && !mode.equals("pack")) {
      throw new ConfigException("batch.mode", mode, "must be bucket or pack");
    }
    return mode.equals("pack");
  }

  public List<Long> nonFiniteSteps() {
    String v = get("debug.nonfinite-steps").trim();
    return v.isEmpty() ? List.of()
        : Arrays.stream(v.split(",")).map(String::trim).map(Long::parseLong).toList();
  }

  public SchemaRegistryConfig registryConfig() {
    return SchemaRegistryConfig.fromMap(values);
  }

  /** Kafka client settings from the file that are not the trainer's own keys. */
  public Map<String, Object> kafkaOverrides() {
    Map<String, Object> out = new LinkedHashMap<>();
    values.forEach((k, v) -> {
      if (!KEYS.containsKey(k) && !SchemaRegistryConfig.DEFAULTS.containsKey(k)) {
        out.put(k, v);
      }
    });
    return out;
  }
}
