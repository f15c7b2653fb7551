package io.continualsft.docs;

import io.continualsft.runtime.config.LayeredConfig;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.streams.config.StreamsAppConfig;
import io.continualsft.trainer.config.TrainerConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/**
 * docs/configuration.md, generated from the services' own key tables, so the reference cannot
 * drift from the code. {@code ConfigReferenceTest} fails when the file differs; run this class's
 * main (or the test with {@code -Ddocs.update=true}) to rewrite it.
 */
public final class ConfigReference {
  private ConfigReference() {}

  public static String render() {
    StringBuilder md = new StringBuilder();
    md.append("""
        # Configuration reference

        <!-- Generated from the code by io.continualsft.docs.ConfigReference; do not edit by hand:
             ./mvnw -pl integration-tests -am test -Dtest=ConfigReferenceTest
             -Dsurefire.failIfNoSpecifiedTests=false -Ddocs.update=true -->

        Both services read a properties file (`--config FILE`), then environment variables over it:
        `SFT_<KEY>` for a key below (upper case, `.` and `-` as `_`: `SFT_MODEL_DIR`), and
        `SFT_KAFKA_<NAME>` for any Kafka client property (`SFT_KAFKA_SECURITY_PROTOCOL` sets
        `security.protocol`). A key that is not below goes to the Kafka clients (for the streams
        app, to Kafka Streams, so `state.dir`, `num.stream.threads` or `producer.*` work). A
        missing required key, or a value that does not parse, stops the service with a message
        naming the key.

        """);
    section(md, "Streams app (`streams-app run`)", StreamsAppConfig.KEYS);
    section(md, "Trainer (`trainer-service run`)", TrainerConfig.KEYS);
    md.append("## Schema registry client (both services, and the `produce` and `pull` commands)\n\n")
        .append("The keys of Confluent's serializers, so an existing client configuration carries"
            + " over. Each is also read from `SFT_<KEY>` (`SFT_BEARER_AUTH_CLIENT_SECRET`), and"
            + " the `produce` and `pull` commands read them from `--client-config FILE`."
            + " Secrets are never printed. See docs/security.md.\n\n")
        .append("| key | default | meaning |\n| --- | --- | --- |\n");
    for (var e : new TreeMap<>(SchemaRegistryConfig.DEFAULTS).entrySet()) {
      row(md, e.getKey(), e.getValue().isEmpty() ? "(none)" : e.getValue(),
          SchemaRegistryConfig.DESCRIPTIONS.get(e.getKey()));
    }
    return md.toString();
  }

  private static void section(StringBuilder md, String title, Map<String, LayeredConfig.Key> keys) {
    md.append("## ").append(title).append("\n\n")
        .append("| key | default | meaning |\n| --- | --- | --- |\n");
    for (LayeredConfig.Key k : keys.values()) {
      String value = k.defaultValue() == null ? "(required)"
          : k.defaultValue().isEmpty() ? "(derived)" : k.defaultValue();
      row(md, k.name(), value, k.doc());
    }
    md.append('\n');
  }

  private static void row(StringBuilder md, String key, String value, String doc) {
    if (doc == null || doc.isBlank()) {
      throw new IllegalStateException("configuration key " + key + " has no description");
    }
    md.append("| `").append(key).append("` | ").append(value.replace("|", "\\|")).append(" | ")
        .append(doc.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")).append(" |\n");
  }

  public static void main(String[] args) throws IOException {
    Path target = Path.of(args.length > 0 ? args[0] : "../docs/configuration.md");
    Files.writeString(target, render());
    System.out.println("wrote " + target.toAbsolutePath().normalize());
  }
}
