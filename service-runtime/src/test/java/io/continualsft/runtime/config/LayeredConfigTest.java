package io.continualsft.runtime.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The file, then the environment over it, for documented keys and for Kafka client keys. */
class LayeredConfigTest {
  static final Map<String, LayeredConfig.Key> KEYS = LayeredConfig.keys(
      new LayeredConfig.Key("model.dir", null, "The model."),
      new LayeredConfig.Key("labels.max-length", "4096", "The most tokens."),
      new LayeredConfig.Key("topic.examples", "sft.examples", "Output topic."));

  @TempDir Path dir;

  @Test
  void anEnvironmentVariableIsTheKeyUpperCasedWithUnderscores() {
    assertThat(LayeredConfig.envName("labels.max-length")).isEqualTo("SFT_LABELS_MAX_LENGTH");
    assertThat(LayeredConfig.envName("schema.registry.url")).isEqualTo("SFT_SCHEMA_REGISTRY_URL");
  }

  @Test
  void theEnvironmentOverridesTheFileAndSetsKafkaClientKeys() throws Exception {
    Path file = Files.writeString(dir.resolve("app.properties"), """
        model.dir = /from/file
        labels.max-length=1024
        num.stream.threads=2
        """);
    Map<String, String> values = LayeredConfig.read(file, Map.of(
        "SFT_LABELS_MAX_LENGTH", "2048",
        "SFT_KAFKA_SECURITY_PROTOCOL", "SASL_SSL",
        "SFT_BASIC_AUTH_USER_INFO", "u:p",
        "SFT_NOT_A_KEY", "ignored",
        "PATH", "/usr/bin"), KEYS, Set.of("basic.auth.user.info"));
    assertThat(values).containsExactlyInAnyOrderEntriesOf(Map.of(
        "model.dir", "/from/file", // trimmed
        "labels.max-length", "2048",
        "num.stream.threads", "2",
        "security.protocol", "SASL_SSL",
        "basic.auth.user.info", "u:p"));
  }

  @Test
  void aKeyNotSetHasItsDefaultAndAnUnknownKeyNothing() {
    Map<String, String> values = Map.of("topic.examples", "mine");
    assertThat(LayeredConfig.get(values, KEYS, "topic.examples")).isEqualTo("mine");
    assertThat(LayeredConfig.get(values, KEYS, "labels.max-length")).isEqualTo("4096");
    assertThat(LayeredConfig.get(values, KEYS, "model.dir")).as("required, unset").isEmpty();
    assertThat(LayeredConfig.get(values, KEYS, "nope")).isEmpty();
  }

  @Test
  void aMissingRequiredKeyIsNamedWithItsMeaningAndVariable() {
    assertThatThrownBy(() -> LayeredConfig.requireAll(Map.of("model.dir", " "), KEYS))
        .isInstanceOf(ConfigException.class)
        .hasMessage("model.dir is required (The model. Environment: SFT_MODEL_DIR)");
    LayeredConfig.requireAll(Map.of("model.dir", "/m"), KEYS);
  }

  @Test
  void anUnreadableFileIsNamed() {
    Path missing = dir.resolve("missing.properties");
    assertThatThrownBy(() -> LayeredConfig.read(missing, Map.of(), KEYS))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("the configuration file").hasMessageContaining(missing.toString());
  }
}
