package io.continualsft.streams.config;

import io.continualsft.chat.labels.AllowedAdapters;
import io.continualsft.chat.labels.LabelingKeys;
import io.continualsft.chat.labels.LabelingSettings;
import io.continualsft.runtime.config.LayeredConfig;
import io.continualsft.runtime.config.Secrets;
import io.continualsft.schemas.SftTopics;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.streams.feedback.FeedbackPolicy;
import io.continualsft.streams.feedback.FeedbackSettings;
import io.continualsft.streams.state.BoundedRocksDbConfig;
import io.continualsft.streams.topology.TopologySettings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.streams.StreamsConfig;

/**
 * The streams app's configuration: a properties file, then environment variables over it.
 *
 * <p>Every key the app itself reads is in {@link #KEYS} with its default and meaning. An
 * environment variable {@code SFT_<KEY>} (upper case, {@code .} and {@code -} as {@code _})
 * overrides a key; {@code SFT_KAFKA_<NAME>} sets the Kafka Streams property {@code name} with
 * {@code _} as {@code .} (SFT_KAFKA_NUM_STREAM_THREADS=2). Any key of the file that is not ours
 * goes to Kafka Streams and its clients as it is, and the schema-registry keys
 * ({@code schema.registry.*}, {@code basic.auth.*}) go to the registry client.
 */
public final class StreamsAppConfig {
  public static final String BOOTSTRAP_SERVERS = "bootstrap.servers";
  public static final String APPLICATION_ID = "application.id";
  public static final String TOPIC_CONVERSATIONS = "topic.conversations";
  public static final String TOPIC_EXAMPLES = "topic.examples";
  public static final String TOPIC_DEAD_LETTERS = "topic.dead-letters";
  public static final String TOPIC_FEEDBACK = "topic.feedback";
  public static final String TOPIC_PREFERENCE_EXAMPLES = "topic.preference-examples";
  public static final String TRAIN_WHEN = "train.when";
  public static final String FEEDBACK_WINDOW = "feedback.window";
  public static final String FEEDBACK_MAX_PER_CONVERSATION = "feedback.max-per-conversation";
  public static final String MODEL_DIR = "model.dir";
  public static final String DEDUP_WINDOW = "dedup.window";
  public static final String DEAD_LETTER_MAX_ORIGINAL_BYTES = "dead-letters.max-original-bytes";
  public static final String ADAPTERS_ALLOWED = "adapters.allowed";
  public static final String METRICS_PORT = "metrics.port";
  public static final String METRICS_HOST = "metrics.host";

  public static final Map<String, LayeredConfig.Key> KEYS = keys(List.of(List.of(
      new LayeredConfig.Key(BOOTSTRAP_SERVERS, null, "Kafka bootstrap servers (required)."),
      new LayeredConfig.Key(SchemaRegistryConfig.URL, null,
          "Schema registry base URL(s), Confluent API (required)."),
      new LayeredConfig.Key(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS, "false",
          "Register the output schemas if missing (on for local runs, off in production)."),
      new LayeredConfig.Key(APPLICATION_ID, "sft-streams",
          "Kafka Streams application id: consumer group, state and internal topic prefix."),
      new LayeredConfig.Key(TOPIC_CONVERSATIONS, SftTopics.CONVERSATIONS, "Input topic (Avro Conversation)."),
      new LayeredConfig.Key(TOPIC_EXAMPLES, SftTopics.EXAMPLES, "Output topic (Avro SftExample)."),
      new LayeredConfig.Key(TOPIC_DEAD_LETTERS, SftTopics.CONVERSATIONS_DLQ, "Dead-letter topic (Avro Rejection)."),
      new LayeredConfig.Key(MODEL_DIR, null,
          "Hugging Face model directory with tokenizer.json and tokenizer_config.json or"
              + " chat_template.jinja (required).")),
      // The labelling rules: the same keys as the trainer's, for its retention set.
      LabelingKeys.KEYS.stream().map(k -> new LayeredConfig.Key(k.name(), k.defaultValue(),
          k.doc())).toList(),
      List.of(
      new LayeredConfig.Key(ADAPTERS_ALLOWED, "*", "Adapters a conversation may name: names and"
          + " glob patterns (* any run of characters, ? one), comma-separated; * allows every valid"
          + " name. Another adapter's conversation is a dead letter (ADAPTER_NOT_ALLOWED), so no"
          + " producer creates an adapter by naming it."),
      new LayeredConfig.Key(TRAIN_WHEN, "always", "What feedback decides (docs/feedback.md):"
          + " always trains every turn the labelling rules select and reads no feedback;"
          + " not-rated-bad leaves a turn rated down untrained; rated-good trains only turns rated"
          + " up. With either of the last two a conversation waits for its feedback (until every"
          + " assistant turn is judged, or feedback.window closes) and a correction is trained as"
          + " the reply."),
      new LayeredConfig.Key(TOPIC_FEEDBACK, SftTopics.FEEDBACK, "Feedback topic (Avro Feedback,"
          + " key = conversation id), read when train.when is not always; it must have as many"
          + " partitions as topic.conversations."),
      new LayeredConfig.Key(TOPIC_PREFERENCE_EXAMPLES, SftTopics.PREFERENCE_EXAMPLES, "Output"
          + " topic of preference examples (Avro PreferenceExample: one per judged turn, one more"
          + " per correction), written when train.when is not always."),
      new LayeredConfig.Key(FEEDBACK_WINDOW, "PT10M", "How long a conversation waits for its"
          + " feedback, and feedback for its conversation, from arrival (ISO-8601 duration, wall"
          + " clock). Feedback after it is late, feedback with no conversation within it an"
          + " orphan: both dead letters. It must be shorter than dedup.window."),
      new LayeredConfig.Key(FEEDBACK_MAX_PER_CONVERSATION,
          Integer.toString(FeedbackSettings.DEFAULT_MAX_PER_CONVERSATION), "The most feedback"
          + " events one conversation collects while it waits; more are dead letters"
          + " (FEEDBACK_INVALID)."),
      new LayeredConfig.Key(DEDUP_WINDOW, "PT24H",
          "How long a conversation id is remembered to drop repeats (ISO-8601 duration)."),
      new LayeredConfig.Key(DEAD_LETTER_MAX_ORIGINAL_BYTES, "524288", "The largest original value"
          + " a dead letter copies; a larger one is referenced by topic, partition and offset."),
      new LayeredConfig.Key(METRICS_PORT, "9400", "Port of /metrics (Prometheus) and /health; 0 disables."),
      new LayeredConfig.Key(METRICS_HOST, "0.0.0.0", "Address the metrics endpoint binds to"
          + " (all interfaces by default, for a scraper in another pod; unauthenticated: see"
          + " docs/security.md)."),
      new LayeredConfig.Key(BoundedRocksDbConfig.MEMORY_BYTES_CONFIG,
          Long.toString(BoundedRocksDbConfig.DEFAULT_MEMORY_BYTES), "Off-heap bytes all RocksDB"
          + " stores of this instance share (block cache, index, filters, memtables), through"
          + " rocksdb.config.setter=" + BoundedRocksDbConfig.class.getName() + " (the default)."))));

  private final Map<String, String> values;

  private static Map<String, LayeredConfig.Key> keys(List<List<LayeredConfig.Key>> groups) {
    return LayeredConfig.keys(groups.stream().flatMap(List::stream)
        .toArray(LayeredConfig.Key[]::new));
  }

  private StreamsAppConfig(Map<String, String> values) {
    this.values = values;
  }

  /** Reads {@code file} (may be null), then applies {@code env} overrides. */
  public static StreamsAppConfig load(Path file, Map<String, String> env) {
    StreamsAppConfig config = new StreamsAppConfig(LayeredConfig.read(file, env, KEYS,
        SchemaRegistryConfig.DEFAULTS.keySet()));
    config.validate();
    return config;
  }

  public static StreamsAppConfig of(Map<String, String> values) {
    StreamsAppConfig config = new StreamsAppConfig(new LinkedHashMap<>(values));
    config.validate();
    return config;
  }

  private void validate() {
    LayeredConfig.requireAll(values, KEYS);
    labelingSettings();
    topologySettings();
    metricsPort();
    longValue(BoundedRocksDbConfig.MEMORY_BYTES_CONFIG, 1024 * 1024);
  }

  public String get(String key) {
    return LayeredConfig.get(values, KEYS, key);
  }

  private int intValue(String key, int min) {
    long parsed = longValue(key, min);
    if (parsed > Integer.MAX_VALUE) {
      throw new ConfigException(key, get(key), "must be <= " + Integer.MAX_VALUE);
    }
    return (int) parsed;
  }

  private long longValue(String key, long min) {
    String v = get(key);
    try {
      long parsed = Long.parseLong(v.trim());
      if (parsed < min) {
        throw new ConfigException(key, v, "must be >= " + min);
      }
      return parsed;
    } catch (NumberFormatException e) {
      throw new ConfigException(key, v, "must be a whole number");
    }
  }

  /** The labelling rules ({@link LabelingKeys}), shared with the trainer's retention set. */
  public LabelingSettings labelingSettings() {
    return LabelingKeys.read(values::get);
  }

  /** Which of the model's chat templates renders conversations. */
  public String chatTemplateName() {
    return LabelingKeys.templateName(values::get);
  }

  /** The positive ISO-8601 duration of {@code key}, or an error naming the key. */
  private Duration positiveDuration(String key, String example) {
    Duration d;
    try {
      d = Duration.parse(get(key));
    } catch (RuntimeException e) {
      throw new ConfigException(key, get(key), "must be an ISO-8601 duration such as " + example);
    }
    if (d.isNegative() || d.isZero()) {
      throw new ConfigException(key, get(key), "must be positive");
    }
    return d;
  }

  public TopologySettings topologySettings() {
    Duration window = positiveDuration(DEDUP_WINDOW, "PT24H");
    AllowedAdapters allowed;
    try {
      allowed = AllowedAdapters.parse(get(ADAPTERS_ALLOWED));
    } catch (IllegalArgumentException e) {
      throw new ConfigException(ADAPTERS_ALLOWED, get(ADAPTERS_ALLOWED), e.getMessage());
    }
    FeedbackSettings feedback = feedbackSettings();
    if (feedback.joins() && feedback.window().compareTo(window) >= 0) {
      throw new ConfigException(FEEDBACK_WINDOW, get(FEEDBACK_WINDOW), "must be shorter than "
          + DEDUP_WINDOW + " (" + get(DEDUP_WINDOW) + "), which tells late feedback from an"
          + " orphan by remembering released conversations");
    }
    try {
      return new TopologySettings(get(TOPIC_CONVERSATIONS), get(TOPIC_EXAMPLES),
          get(TOPIC_DEAD_LETTERS), window, get(APPLICATION_ID),
          intValue(DEAD_LETTER_MAX_ORIGINAL_BYTES, 0), maxRequestSize(), allowed, feedback);
    } catch (IllegalArgumentException e) {
      throw new ConfigException(DEAD_LETTER_MAX_ORIGINAL_BYTES + ": " + e.getMessage());
    }
  }

  /** The feedback join's settings ({@code train.when} and {@code feedback.*}). */
  public FeedbackSettings feedbackSettings() {
    FeedbackPolicy policy;
    try {
      policy = FeedbackPolicy.parse(get(TRAIN_WHEN));
    } catch (IllegalArgumentException e) {
      throw new ConfigException(TRAIN_WHEN, get(TRAIN_WHEN), e.getMessage());
    }
    Duration window = positiveDuration(FEEDBACK_WINDOW, "PT10M");
    String topic = get(TOPIC_FEEDBACK);
    if (policy != FeedbackPolicy.ALWAYS && topic.equals(get(TOPIC_CONVERSATIONS))) {
      throw new ConfigException(TOPIC_FEEDBACK, topic, "must differ from "
          + TOPIC_CONVERSATIONS);
    }
    return new FeedbackSettings(topic, policy, window,
        intValue(FEEDBACK_MAX_PER_CONVERSATION, 1), get(TOPIC_PREFERENCE_EXAMPLES));
  }

  /**
   * The producer's max.request.size as Kafka Streams will set it: {@code producer.} prefixed,
   * else plain, else Kafka's default.
   */
  int maxRequestSize() {
    for (String key : new String[] {"producer." + ProducerConfig.MAX_REQUEST_SIZE_CONFIG,
        ProducerConfig.MAX_REQUEST_SIZE_CONFIG}) {
      String v = values.get(key);
      if (v != null) {
        try {
          return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
          throw new ConfigException(key, v, "must be a whole number");
        }
      }
    }
    return TopologySettings.DEFAULT_MAX_RECORD_BYTES;
  }

  public Path modelDir() {
    return Path.of(get(MODEL_DIR));
  }

  public int metricsPort() {
    return intValue(METRICS_PORT, 0);
  }

  public SchemaRegistryConfig registryConfig() {
    return SchemaRegistryConfig.fromMap(values);
  }

  /**
   * Kafka Streams properties: every key that is not the app's own, plus the app id, bootstrap
   * servers and exactly_once_v2 (overridable).
   */
  public Properties streamsProperties() {
    Properties p = new Properties();
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    // Kafka 5.0's default, recommended (and warned about) since 4.x.
    p.put("processing.exception.handler.global.enabled", "true");
    values.forEach((k, v) -> {
      if (!KEYS.containsKey(k) && !SchemaRegistryConfig.DEFAULTS.containsKey(k)) {
        p.put(k, v);
      }
    });
    p.putIfAbsent(StreamsConfig.ROCKSDB_CONFIG_SETTER_CLASS_CONFIG, BoundedRocksDbConfig.class);
    p.put(BoundedRocksDbConfig.MEMORY_BYTES_CONFIG,
        Long.toString(longValue(BoundedRocksDbConfig.MEMORY_BYTES_CONFIG, 1024 * 1024)));
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, get(APPLICATION_ID));
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, get(BOOTSTRAP_SERVERS));
    return p;
  }

  /** Admin client settings as Kafka Streams derives its own (security settings included). */
  public Map<String, Object> adminProperties() {
    return new StreamsConfig(streamsProperties()).getAdminConfigs(get(APPLICATION_ID) + "-check");
  }

  @Override
  public String toString() {
    return "StreamsAppConfig" + Secrets.redacted(values); // never a secret
  }
}
