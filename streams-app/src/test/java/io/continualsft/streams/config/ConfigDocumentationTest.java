package io.continualsft.streams.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The README's configuration table lists every key the app reads, with its real default. */
class ConfigDocumentationTest {

  @Test
  void everyKeyIsDocumentedWithItsDefault() throws Exception {
    String readme = Files.readString(Path.of("README.md"));
    for (LayeredConfig.Key key : StreamsAppConfig.KEYS.values()) {
      String expectedDefault = key.defaultValue() == null ? "(required)"
          : key.defaultValue().isEmpty() ? "(detected)" : key.defaultValue();
      assertThat(readme).as(key.name())
          .contains("| " + key.name() + " | " + expectedDefault + " |");
    }
  }
}
