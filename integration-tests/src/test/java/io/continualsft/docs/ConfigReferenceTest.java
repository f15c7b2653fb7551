package io.continualsft.docs;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** docs/configuration.md is exactly what the code's key tables generate. */
class ConfigReferenceTest {
  private static final Path DOC = Path.of("..", "docs", "configuration.md");

  @Test
  void theReferenceMatchesTheCode() throws Exception {
    String expected = ConfigReference.render();
    if (Boolean.getBoolean("docs.update")) {
      Files.writeString(DOC, expected);
    }
    assertThat(Files.readString(DOC))
        .as("docs/configuration.md is stale: rerun with -Ddocs.update=true")
        .isEqualTo(expected);
  }
}
