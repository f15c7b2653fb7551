package io.continualsft.it.support;

import io.continualsft.local.FreePorts;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;

/** Service configurations the tests share. */
public final class TestConfigs {
  private TestConfigs() {}

  /**
   * The streams app on the test services: its own application id and topics, the model's
   * template and tokenizer, metrics on a free loopback port, fast commits.
   */
  public static Map<String, String> streamsApp(KafkaCluster kafka, SchemaRegistry registry,
      String applicationId, String conversations, String examples, String deadLetters,
      Path model, Path stateDir) {
    Map<String, String> c = new HashMap<>();
    c.put("bootstrap.servers", kafka.bootstrapServers());
    c.put("schema.registry.url", registry.url());
    c.put("auto.register.schemas", "true");
    c.put("application.id", applicationId);
    c.put("topic.conversations", conversations);
    c.put("topic.examples", examples);
    c.put("topic.dead-letters", deadLetters);
    c.put("model.dir", model.toString());
    c.put("metrics.port", String.valueOf(FreePorts.pick()));
    c.put("metrics.host", "127.0.0.1");
    c.put("state.dir", stateDir.toString());
    c.put("commit.interval.ms", "200");
    return c;
  }

  /** {@code config} as a properties file, for a service run as a child process. */
  public static Path write(Path file, Map<String, String> config) {
    Properties p = new Properties();
    p.putAll(config);
    try (Writer w = Files.newBufferedWriter(file)) {
      p.store(w, null);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return file;
  }
}
