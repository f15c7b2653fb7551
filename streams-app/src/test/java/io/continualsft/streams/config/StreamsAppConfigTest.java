package io.continualsft.streams.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.continualsft.chat.labels.LabelingSettings;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StreamsAppConfigTest {
  static final Map<String, String> REQUIRED = Map.of(
      "bootstrap.servers", "k:9092", "schema.registry.url", "http://r:8081", "model.dir", "/m");

  @Test
  void defaultsApplyWhereNothingIsSet() {
    StreamsAppConfig c = StreamsAppConfig.of(REQUIRED);
    assertThat(c.labelingSettings()).isEqualTo(LabelingSettings.DEFAULTS);
    assertThat(c.topologySettings().conversationsTopic()).isEqualTo("sft.conversations");
    assertThat(c.topologySettings().examplesTopic()).isEqualTo("sft.examples");
    assertThat(c.topologySettings().deadLetterTopic()).isEqualTo("sft.conversations.dlq");
    assertThat(c.topologySettings().dedupWindow()).isEqualTo(Duration.ofHours(24));
    assertThat(c.metricsPort()).isEqualTo(9400);
    Properties streams = c.streamsProperties();
    assertThat(streams.getProperty("processing.guarantee")).isEqualTo("exactly_once_v2");
    assertThat(streams.getProperty("application.id")).isEqualTo("sft-streams");
    assertThat(streams).doesNotContainKey("model.dir").doesNotContainKey("schema.registry.url");
  }

  @Test
  void theRegistrysCredentialsAndTlsKeysComeFromTheEnvironmentAndAreNeverPrinted() {
    StreamsAppConfig c = StreamsAppConfig.load(null, Map.of(
        "SFT_BOOTSTRAP_SERVERS", "b:9092",
        "SFT_SCHEMA_REGISTRY_URL", "https://r:8443",
        "SFT_MODEL_DIR", "/m",
        "SFT_BASIC_AUTH_CREDENTIALS_SOURCE", "USER_INFO",
        "SFT_BASIC_AUTH_USER_INFO", "sft:registry-secret",
        "SFT_SCHEMA_REGISTRY_SSL_TRUSTSTORE_LOCATION", "/etc/tls/trust.p12",
        "SFT_SCHEMA_REGISTRY_SSL_TRUSTSTORE_PASSWORD", "store-secret",
        "SFT_KAFKA_SASL_JAAS_CONFIG", "ScramLoginModule required password=\"kafka-secret\";"));
    assertThat(c.registryConfig().userInfo()).isEqualTo("sft:registry-secret");
    assertThat(c.registryConfig().tls().truststoreLocation()).isEqualTo("/etc/tls/trust.p12");
    assertThat(c.streamsProperties().getProperty("sasl.jaas.config")).contains("kafka-secret");
    assertThat(c.streamsProperties()).doesNotContainKey("basic.auth.user.info");
    assertThat(c.toString()).doesNotContain("registry-secret", "store-secret", "kafka-secret");
  }

  @Test
  void theFileIsReadAndTheEnvironmentOverridesIt(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("app.properties");
    Files.writeString(file, """
        bootstrap.servers=file:9092
        schema.registry.url=http://r:8081
        model.dir=/models/qwen3
        labels.max-length=1024
        num.stream.threads=3
        """);
    StreamsAppConfig c = StreamsAppConfig.load(file, Map.of(
        "SFT_LABELS_MAX_LENGTH", "2048",
        "SFT_LABELS_POLICY", "last",
        "SFT_BOOTSTRAP_SERVERS", "env:9092",
        "SFT_KAFKA_COMMIT_INTERVAL_MS", "500",
        "UNRELATED", "x"));
    assertThat(c.labelingSettings().maxLength()).isEqualTo(2048);
    assertThat(c.labelingSettings().policy()).isEqualTo(LabelingSettings.TrainPolicy.LAST);
    assertThat(c.modelDir()).isEqualTo(Path.of("/models/qwen3"));
    Properties streams = c.streamsProperties();
    assertThat(streams.getProperty("bootstrap.servers")).isEqualTo("env:9092");
    assertThat(streams.getProperty("num.stream.threads")).isEqualTo("3");
    assertThat(streams.getProperty("commit.interval.ms")).isEqualTo("500");
  }

  @Test
  void aMissingRequiredKeyIsNamedWithItsEnvironmentVariable() {
    assertThatThrownBy(() -> StreamsAppConfig.of(Map.of("bootstrap.servers", "k:9092",
            "schema.registry.url", "http://r")))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("model.dir is required")
        .hasMessageContaining("SFT_MODEL_DIR");
  }

  @Test
  void badValuesNameTheirKey() {
    assertThatThrownBy(() -> with("labels.max-length", "lots"))
        .hasMessageContaining("labels.max-length").hasMessageContaining("whole number");
    assertThatThrownBy(() -> with("labels.policy", "some"))
        .hasMessageContaining("policy must be all or last");
    assertThatThrownBy(() -> with("labels.truncation", "middle"))
        .hasMessageContaining("truncation must be drop or keep-start");
    assertThatThrownBy(() -> with("dedup.window", "1 day"))
        .hasMessageContaining("dedup.window").hasMessageContaining("ISO-8601");
    assertThatThrownBy(() -> with("validation.special-tokens-in-content", "maybe"))
        .hasMessageContaining("validation.special-tokens-in-content");
    assertThatThrownBy(() -> with("metrics.port", "-1"))
        .hasMessageContaining("metrics.port");
  }

  private static StreamsAppConfig with(String key, String value) {
    Map<String, String> m = new java.util.HashMap<>(REQUIRED);
    m.put(key, value);
    return StreamsAppConfig.of(m);
  }

  @Test
  void feedbackIsOffByDefaultAndItsSettingsAreCheckedByName() {
    StreamsAppConfig off = StreamsAppConfig.of(REQUIRED);
    assertThat(off.feedbackSettings().joins()).isFalse();
    assertThat(off.topologySettings().feedback().topic()).isEqualTo("sft.feedback");

    Map<String, String> on = new java.util.HashMap<>(REQUIRED);
    on.put("train.when", "rated-good");
    on.put("feedback.window", "PT30S");
    StreamsAppConfig c = StreamsAppConfig.of(on);
    assertThat(c.topologySettings().feedback().policy())
        .isEqualTo(io.continualsft.streams.feedback.FeedbackPolicy.RATED_GOOD);
    assertThat(c.topologySettings().feedback().window()).isEqualTo(Duration.ofSeconds(30));

    on.put("train.when", "sometimes");
    assertThatThrownBy(() -> StreamsAppConfig.of(on)).isInstanceOf(ConfigException.class)
        .hasMessageContaining("train.when").hasMessageContaining("always, not-rated-bad");
    on.put("train.when", "not-rated-bad");
    on.put("feedback.window", "PT48H");
    assertThatThrownBy(() -> StreamsAppConfig.of(on)).isInstanceOf(ConfigException.class)
        .hasMessageContaining("feedback.window").hasMessageContaining("shorter than dedup.window");
    on.put("feedback.window", "PT1M");
    on.put("topic.feedback", "sft.conversations");
    assertThatThrownBy(() -> StreamsAppConfig.of(on)).isInstanceOf(ConfigException.class)
        .hasMessageContaining("topic.feedback");
  }
}
