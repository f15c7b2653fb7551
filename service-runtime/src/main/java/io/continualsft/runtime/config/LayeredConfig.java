package io.continualsft.runtime.config;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;

/**
 * The configuration layering the services share: a properties file, then environment variables
 * {@code SFT_<KEY>} (the key upper cased, {@code .} and {@code -} as {@code _}) for the documented
 * keys, and {@code SFT_KAFKA_<NAME>} for a Kafka client property {@code name} ({@code _} as
 * {@code .}).
 */
public final class LayeredConfig {
  /** A documented key; a null default means required. */
  public record Key(String name, String defaultValue, String doc) {}

  private LayeredConfig() {}

  public static Map<String, Key> keys(Key... keys) {
    Map<String, Key> map = new LinkedHashMap<>();
    for (Key k : keys) {
      map.put(k.name(), k);
    }
    return map;
  }

  /** {@code labels.max-length} → {@code SFT_LABELS_MAX_LENGTH}. */
  public static String envName(String key) {
    return "SFT_" + key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
  }

  /** The file's keys (when {@code file} is not null), then the environment's over them. */
  public static Map<String, String> read(Path file, Map<String, String> env, Map<String, Key> keys) {
    return read(file, env, keys, java.util.Set.of());
  }

  /**
   * As {@link #read(Path, Map, Map)}, and {@code SFT_<KEY>} also sets each of {@code alsoKeys}:
   * keys documented elsewhere (the schema registry client's), which a deployment must be able to
   * set from the environment too, secrets above all.
   */
  public static Map<String, String> read(Path file, Map<String, String> env, Map<String, Key> keys,
      java.util.Set<String> alsoKeys) {
    Map<String, String> values = file == null ? new LinkedHashMap<>()
        : ClientConfigFile.properties(file, "the configuration file", "");
    Map<String, String> byEnvName = new LinkedHashMap<>();
    keys.keySet().forEach(k -> byEnvName.put(envName(k), k));
    alsoKeys.forEach(k -> byEnvName.put(envName(k), k));
    env.forEach((name, value) -> {
      if (name.startsWith("SFT_KAFKA_")) {
        values.put(name.substring("SFT_KAFKA_".length()).toLowerCase(Locale.ROOT).replace('_', '.'),
            value);
      } else if (byEnvName.containsKey(name)) {
        values.put(byEnvName.get(name), value);
      }
    });
    return values;
  }

  /** The value of {@code key}: set, else its documented default, else "". */
  public static String get(Map<String, String> values, Map<String, Key> keys, String key) {
    String v = values.get(key);
    if (v != null) {
      return v;
    }
    Key k = keys.get(key);
    return k == null || k.defaultValue() == null ? "" : k.defaultValue();
  }

  /** Fails naming the first required key that is not set, with its environment variable. */
  public static void requireAll(Map<String, String> values, Map<String, Key> keys) {
    for (Key k : keys.values()) {
      if (k.defaultValue() == null && get(values, keys, k.name()).isBlank()) {
        throw new ConfigException(k.name() + " is required (" + k.doc() + " Environment: "
            + envName(k.name()) + ")");
      }
    }
  }
}
