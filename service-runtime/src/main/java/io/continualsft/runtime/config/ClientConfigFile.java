package io.continualsft.runtime.config;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.config.ConfigException;

/**
 * A Kafka client properties file, as {@code --command-config} takes for Kafka's own tools:
 * {@code security.protocol}, {@code sasl.*}, {@code ssl.*}, and the schema registry's keys
 * ({@code schema.registry.url}, {@code basic.auth.*}, {@code bearer.auth.*},
 * {@code schema.registry.ssl.*}) for the commands that also talk to the registry.
 */
public final class ClientConfigFile {
  private ClientConfigFile() {}

  /** The file's properties, or none when {@code file} is null. */
  public static Map<String, String> read(Path file) {
    return file == null ? new LinkedHashMap<>()
        : properties(file, "the client configuration file", " (--client-config)");
  }

  /**
   * A properties file as a map, values trimmed; a file that cannot be read stops the program
   * with a message naming {@code what}, the file, and {@code hint}.
   */
  public static Map<String, String> properties(Path file, String what, String hint) {
    Properties p = new Properties();
    try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      p.load(r);
    } catch (IOException e) {
      throw new ConfigException("could not read " + what + " " + file + ": " + e.getMessage()
          + hint);
    }
    Map<String, String> values = new LinkedHashMap<>();
    p.stringPropertyNames().forEach(k -> values.put(k, p.getProperty(k).trim()));
    return values;
  }
}
