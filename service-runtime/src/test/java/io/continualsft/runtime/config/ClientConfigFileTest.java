package io.continualsft.runtime.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A client properties file as Kafka's tools take one: read as written, values trimmed. */
class ClientConfigFileTest {
  @TempDir Path dir;

  @Test
  void noFileIsNoProperties() {
    assertThat(ClientConfigFile.read(null)).isEmpty();
  }

  @Test
  void theFilesPropertiesAreReadWithTheirValuesTrimmed() throws Exception {
    Path file = Files.writeString(dir.resolve("client.properties"), """
        # a SASL_SSL cluster
        security.protocol=SASL_SSL
        sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\
            username="u" password="p";
        schema.registry.url = https://registry:8081\t
        """);
    assertThat(ClientConfigFile.read(file)).containsExactlyInAnyOrderEntriesOf(Map.of(
        "security.protocol", "SASL_SSL",
        "sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required"
            + " username=\"u\" password=\"p\";",
        "schema.registry.url", "https://registry:8081"));
  }

  @Test
  void aFileThatCannotBeReadIsNamedWithTheOption() {
    Path missing = dir.resolve("nope.properties");
    assertThatThrownBy(() -> ClientConfigFile.read(missing))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining(missing.toString()).hasMessageContaining("--client-config");
  }
}
