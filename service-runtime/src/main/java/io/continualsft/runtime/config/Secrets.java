package io.continualsft.runtime.config;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Which configuration values are secrets, so that nothing that prints a configuration (a
 * {@code toString}, a startup line, an error) prints them: Kafka's password-type keys
 * ({@code sasl.jaas.config}, {@code ssl.*.password}), and the registry's credentials
 * ({@code basic.auth.user.info}, {@code bearer.auth.token}, {@code bearer.auth.client.secret}).
 */
public final class Secrets {
  private static final Pattern SECRET = Pattern.compile(
      "password|secret|token|jaas|user\\.info|credentials\\.(?!source)|private\\.key");

  private Secrets() {}

  public static boolean isSecret(String key) {
    return SECRET.matcher(key.toLowerCase(Locale.ROOT)).find();
  }

  /** {@code config} with every secret's value replaced by {@code [hidden]}. */
  public static Map<String, String> redacted(Map<String, String> config) {
    Map<String, String> out = new LinkedHashMap<>();
    config.forEach((k, v) -> out.put(k, isSecret(k) ? "[hidden]" : v));
    return out;
  }
}
