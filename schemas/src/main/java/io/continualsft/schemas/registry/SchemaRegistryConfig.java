package io.continualsft.schemas.registry;

import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.kafka.common.config.ConfigException;

/**
 * How to reach a Confluent-API schema registry. The keys are Confluent's own, so a client
 * configuration written for Confluent's serializers carries over unchanged.
 *
 * @param urls base URLs tried in order (for Apicurio include the {@code /apis/ccompat/v7} suffix)
 * @param userInfo {@code user:password} for HTTP basic auth, or null
 * @param bearer bearer-token auth (a static token or OAuth client credentials), or null
 * @param tls trust/key stores for HTTPS, or null for the JVM defaults
 * @param requestTimeout per-request timeout
 * @param retries retries after the first attempt on connection errors, timeouts and 5xx
 * @param retryBackoff first backoff; doubled per retry up to {@code retryBackoffMax}
 * @param retryBackoffMax cap of the backoff
 * @param autoRegister whether a serializer registers a schema it has not seen (on for local and
 *     test runs; off in production, where schemas are registered ahead of deployment)
 */
public record SchemaRegistryConfig(
    List<URI> urls,
    String userInfo,
    BearerAuth bearer,
    TlsConfig tls,
    Duration requestTimeout,
    int retries,
    Duration retryBackoff,
    Duration retryBackoffMax,
    boolean autoRegister) {

  public static final String URL = "schema.registry.url";
  public static final String BASIC_AUTH_CREDENTIALS_SOURCE = "basic.auth.credentials.source";
  public static final String BASIC_AUTH_USER_INFO = "basic.auth.user.info";
  public static final String REQUEST_TIMEOUT_MS = "schema.registry.request.timeout.ms";
  public static final String RETRIES = "schema.registry.retries";
  public static final String RETRY_BACKOFF_MS = "schema.registry.retry.backoff.ms";
  public static final String RETRY_BACKOFF_MAX_MS = "schema.registry.retry.backoff.max.ms";
  public static final String AUTO_REGISTER_SCHEMAS = "auto.register.schemas";
  public static final String BEARER_AUTH_CREDENTIALS_SOURCE = "bearer.auth.credentials.source";
  public static final String BEARER_AUTH_TOKEN = "bearer.auth.token";
  public static final String BEARER_AUTH_ISSUER_ENDPOINT_URL = "bearer.auth.issuer.endpoint.url";
  public static final String BEARER_AUTH_CLIENT_ID = "bearer.auth.client.id";
  public static final String BEARER_AUTH_CLIENT_SECRET = "bearer.auth.client.secret";
  public static final String BEARER_AUTH_SCOPE = "bearer.auth.scope";
  public static final String SSL_TRUSTSTORE_LOCATION = "schema.registry.ssl.truststore.location";
  public static final String SSL_TRUSTSTORE_PASSWORD = "schema.registry.ssl.truststore.password";
  public static final String SSL_TRUSTSTORE_TYPE = "schema.registry.ssl.truststore.type";
  public static final String SSL_KEYSTORE_LOCATION = "schema.registry.ssl.keystore.location";
  public static final String SSL_KEYSTORE_PASSWORD = "schema.registry.ssl.keystore.password";
  public static final String SSL_KEYSTORE_TYPE = "schema.registry.ssl.keystore.type";
  public static final String SSL_KEY_PASSWORD = "schema.registry.ssl.key.password";

  /** Every key this config reads, with its default ("" = none), for documentation and checks. */
  public static final Map<String, String> DEFAULTS =
      Map.ofEntries(
          Map.entry(URL, ""),
          Map.entry(BASIC_AUTH_CREDENTIALS_SOURCE, "URL"),
          Map.entry(BASIC_AUTH_USER_INFO, ""),
          Map.entry(BEARER_AUTH_CREDENTIALS_SOURCE, ""),
          Map.entry(BEARER_AUTH_TOKEN, ""),
          Map.entry(BEARER_AUTH_ISSUER_ENDPOINT_URL, ""),
          Map.entry(BEARER_AUTH_CLIENT_ID, ""),
          Map.entry(BEARER_AUTH_CLIENT_SECRET, ""),
          Map.entry(BEARER_AUTH_SCOPE, ""),
          Map.entry(REQUEST_TIMEOUT_MS, "10000"),
          Map.entry(RETRIES, "5"),
          Map.entry(RETRY_BACKOFF_MS, "100"),
          Map.entry(RETRY_BACKOFF_MAX_MS, "5000"),
          Map.entry(AUTO_REGISTER_SCHEMAS, "false"),
          Map.entry(SSL_TRUSTSTORE_LOCATION, ""),
          Map.entry(SSL_TRUSTSTORE_PASSWORD, ""),
          Map.entry(SSL_TRUSTSTORE_TYPE, "PKCS12"),
          Map.entry(SSL_KEYSTORE_LOCATION, ""),
          Map.entry(SSL_KEYSTORE_PASSWORD, ""),
          Map.entry(SSL_KEYSTORE_TYPE, "PKCS12"),
          Map.entry(SSL_KEY_PASSWORD, ""));

  /** What each key of {@link #DEFAULTS} means, for the configuration reference. */
  public static final Map<String, String> DESCRIPTIONS =
      Map.ofEntries(
          Map.entry(URL, "Base URL(s), comma-separated, tried in order (Apicurio: ending in"
              + " /apis/ccompat/v7)."),
          Map.entry(BASIC_AUTH_CREDENTIALS_SOURCE, "URL (user:password in the URL) or USER_INFO."),
          Map.entry(BASIC_AUTH_USER_INFO, "user:password for HTTP basic auth, with USER_INFO."),
          Map.entry(BEARER_AUTH_CREDENTIALS_SOURCE, "STATIC_TOKEN (bearer.auth.token) or"
              + " OAUTHBEARER (a token from bearer.auth.issuer.endpoint.url by client"
              + " credentials); empty: no bearer auth."),
          Map.entry(BEARER_AUTH_TOKEN, "The bearer token, with STATIC_TOKEN."),
          Map.entry(BEARER_AUTH_ISSUER_ENDPOINT_URL, "OAuth 2 token endpoint, with OAUTHBEARER."),
          Map.entry(BEARER_AUTH_CLIENT_ID, "OAuth client id, with OAUTHBEARER."),
          Map.entry(BEARER_AUTH_CLIENT_SECRET, "OAuth client secret, with OAUTHBEARER."),
          Map.entry(BEARER_AUTH_SCOPE, "OAuth scope to ask for, with OAUTHBEARER (optional)."),
          Map.entry(REQUEST_TIMEOUT_MS, "Timeout of one registry request."),
          Map.entry(RETRIES, "Retries after connection errors, timeouts and 5xx answers."),
          Map.entry(RETRY_BACKOFF_MS, "First backoff between retries, doubled each time."),
          Map.entry(RETRY_BACKOFF_MAX_MS, "Largest backoff between retries."),
          Map.entry(AUTO_REGISTER_SCHEMAS, "Register a schema the subject lacks (off in"
              + " production: register schemas ahead of deployment)."),
          Map.entry(SSL_TRUSTSTORE_LOCATION, "Trust store for an HTTPS registry."),
          Map.entry(SSL_TRUSTSTORE_PASSWORD, "Its password."),
          Map.entry(SSL_TRUSTSTORE_TYPE, "Its type."),
          Map.entry(SSL_KEYSTORE_LOCATION, "Key store for mutual TLS."),
          Map.entry(SSL_KEYSTORE_PASSWORD, "Its password."),
          Map.entry(SSL_KEYSTORE_TYPE, "Its type."),
          Map.entry(SSL_KEY_PASSWORD, "The key's password."));

  public SchemaRegistryConfig {
    Objects.requireNonNull(urls, "urls");
    if (urls.isEmpty()) {
      throw new ConfigException(URL, "", "at least one schema registry URL is required");
    }
    urls = List.copyOf(urls);
    Objects.requireNonNull(requestTimeout, "requestTimeout");
    Objects.requireNonNull(retryBackoff, "retryBackoff");
    Objects.requireNonNull(retryBackoffMax, "retryBackoffMax");
    if (retries < 0) {
      throw new ConfigException(RETRIES, retries, "must be >= 0");
    }
  }

  /**
   * Bearer-token auth: {@code STATIC_TOKEN} with {@code token}, or {@code OAUTHBEARER} with an
   * issuer endpoint, client id and secret (and an optional scope).
   */
  public record BearerAuth(String source, String token, URI issuerEndpoint, String clientId,
      String clientSecret, String scope) {
    @Override
    public String toString() {
      return "BearerAuth[" + source + (issuerEndpoint == null ? "" : ", " + issuerEndpoint) + "]";
    }
  }

  /** Trust and key stores for HTTPS to the registry. Null fields fall back to the JVM defaults. */
  public record TlsConfig(
      String truststoreLocation,
      String truststorePassword,
      String truststoreType,
      String keystoreLocation,
      String keystorePassword,
      String keystoreType,
      String keyPassword) {
    @Override
    public String toString() {
      return "TlsConfig[truststore=" + truststoreLocation + ", keystore=" + keystoreLocation + "]";
    }
  }

  /** {@code configs} without the registry's keys: what is left is for the Kafka client. */
  public static Map<String, Object> kafkaOnly(Map<String, ?> configs) {
    Map<String, Object> out = new java.util.LinkedHashMap<>(configs);
    out.keySet().removeIf(DEFAULTS::containsKey);
    return out;
  }

  /** Defaults for everything but the URL(s); handy in code and tests. */
  public static SchemaRegistryConfig forUrl(String url, boolean autoRegister) {
    return fromMap(Map.of(URL, url, AUTO_REGISTER_SCHEMAS, Boolean.toString(autoRegister)));
  }

  /**
   * Reads the keys above from Kafka-style client configs. Unknown keys are ignored (the same map
   * carries the Kafka client's own settings). A bad value fails with a {@link ConfigException}
   * naming the key.
   */
  public static SchemaRegistryConfig fromMap(Map<String, ?> configs) {
    String rawUrls = string(configs, URL);
    if (rawUrls == null || rawUrls.isBlank()) {
      throw new ConfigException(URL, rawUrls, "the schema registry URL is required");
    }
    List<URI> urls = new ArrayList<>();
    String urlUserInfo = null;
    for (String part : rawUrls.split(",")) {
      String trimmed = part.trim();
      if (trimmed.isEmpty()) {
        continue;
      }
      URI uri;
      try {
        uri = URI.create(trimmed);
      } catch (IllegalArgumentException e) {
        throw new ConfigException(URL, trimmed, "not a URI: " + e.getMessage());
      }
      if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme())) {
        throw new ConfigException(URL, trimmed, "the scheme must be http or https");
      }
      if (uri.getUserInfo() != null) {
        urlUserInfo = uri.getUserInfo();
        uri = URI.create(uri.getScheme() + "://" + uri.getHost()
            + (uri.getPort() < 0 ? "" : ":" + uri.getPort()) + uri.getRawPath());
      }
      urls.add(stripTrailingSlash(uri));
    }

    String source = orDefault(configs, BASIC_AUTH_CREDENTIALS_SOURCE);
    String userInfo =
        switch (source.toUpperCase(java.util.Locale.ROOT)) {
          case "URL" -> urlUserInfo;
          case "USER_INFO" -> {
            String v = string(configs, BASIC_AUTH_USER_INFO);
            if (v == null || !v.contains(":")) {
              throw new ConfigException(
                  BASIC_AUTH_USER_INFO, v == null ? null : "<hidden>",
                  "with " + BASIC_AUTH_CREDENTIALS_SOURCE + "=USER_INFO this must be user:password");
            }
            yield v;
          }
          default -> throw new ConfigException(
              BASIC_AUTH_CREDENTIALS_SOURCE, source, "must be URL or USER_INFO");
        };

    BearerAuth bearer = bearer(configs);
    if (bearer != null && userInfo != null) {
      throw new ConfigException(BEARER_AUTH_CREDENTIALS_SOURCE, bearer.source(),
          "basic auth (user info in the URL or " + BASIC_AUTH_USER_INFO + ") and bearer auth"
              + " are both configured; choose one");
    }

    TlsConfig tls = null;
    if (string(configs, SSL_TRUSTSTORE_LOCATION) != null
        || string(configs, SSL_KEYSTORE_LOCATION) != null) {
      tls = new TlsConfig(
          string(configs, SSL_TRUSTSTORE_LOCATION),
          string(configs, SSL_TRUSTSTORE_PASSWORD),
          orDefault(configs, SSL_TRUSTSTORE_TYPE),
          string(configs, SSL_KEYSTORE_LOCATION),
          string(configs, SSL_KEYSTORE_PASSWORD),
          orDefault(configs, SSL_KEYSTORE_TYPE),
          string(configs, SSL_KEY_PASSWORD));
    }

    return new SchemaRegistryConfig(
        urls,
        userInfo,
        bearer,
        tls,
        Duration.ofMillis(positiveLong(configs, REQUEST_TIMEOUT_MS)),
        (int) nonNegativeLong(configs, RETRIES),
        Duration.ofMillis(nonNegativeLong(configs, RETRY_BACKOFF_MS)),
        Duration.ofMillis(nonNegativeLong(configs, RETRY_BACKOFF_MAX_MS)),
        bool(configs, AUTO_REGISTER_SCHEMAS));
  }

  private static BearerAuth bearer(Map<String, ?> configs) {
    String source = string(configs, BEARER_AUTH_CREDENTIALS_SOURCE);
    if (source == null) {
      return null;
    }
    switch (source.trim().toUpperCase(java.util.Locale.ROOT)) {
      case "STATIC_TOKEN" -> {
        String token = required(configs, BEARER_AUTH_TOKEN, "STATIC_TOKEN");
        return new BearerAuth("STATIC_TOKEN", token, null, null, null, null);
      }
      case "OAUTHBEARER" -> {
        String endpoint = required(configs, BEARER_AUTH_ISSUER_ENDPOINT_URL, "OAUTHBEARER");
        URI uri;
        try {
          uri = URI.create(endpoint.trim());
        } catch (IllegalArgumentException e) {
          throw new ConfigException(BEARER_AUTH_ISSUER_ENDPOINT_URL, endpoint, "not a URI");
        }
        if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme())) {
          throw new ConfigException(BEARER_AUTH_ISSUER_ENDPOINT_URL, endpoint,
              "the scheme must be http or https");
        }
        return new BearerAuth("OAUTHBEARER", null, uri,
            required(configs, BEARER_AUTH_CLIENT_ID, "OAUTHBEARER"),
            required(configs, BEARER_AUTH_CLIENT_SECRET, "OAUTHBEARER"),
            string(configs, BEARER_AUTH_SCOPE));
      }
      default -> throw new ConfigException(BEARER_AUTH_CREDENTIALS_SOURCE, source,
          "must be STATIC_TOKEN or OAUTHBEARER");
    }
  }

  private static String required(Map<String, ?> configs, String key, String source) {
    String v = string(configs, key);
    if (v == null || v.isBlank()) {
      // The value is never echoed: it may be a secret.
      throw new ConfigException(key + " is required with " + BEARER_AUTH_CREDENTIALS_SOURCE + "="
          + source);
    }
    return v;
  }

  private static URI stripTrailingSlash(URI uri) {
    String s = uri.toString();
    return s.endsWith("/") ? URI.create(s.substring(0, s.length() - 1)) : uri;
  }

  private static String string(Map<String, ?> configs, String key) {
    Object v = configs.get(key);
    if (v == null) {
      return null;
    }
    String s = v.toString();
    return s.isEmpty() ? null : s;
  }

  private static String orDefault(Map<String, ?> configs, String key) {
    String v = string(configs, key);
    return v == null ? DEFAULTS.get(key) : v;
  }

  private static long nonNegativeLong(Map<String, ?> configs, String key) {
    String v = orDefault(configs, key);
    long parsed;
    try {
      parsed = Long.parseLong(v.trim());
    } catch (NumberFormatException e) {
      throw new ConfigException(key, v, "must be a whole number");
    }
    if (parsed < 0) {
      throw new ConfigException(key, v, "must be >= 0");
    }
    return parsed;
  }

  private static long positiveLong(Map<String, ?> configs, String key) {
    long v = nonNegativeLong(configs, key);
    if (v == 0) {
      throw new ConfigException(key, v, "must be > 0");
    }
    return v;
  }

  private static boolean bool(Map<String, ?> configs, String key) {
    String v = orDefault(configs, key).trim();
    if (v.equalsIgnoreCase("true")) {
      return true;
    }
    if (v.equalsIgnoreCase("false")) {
      return false;
    }
    throw new ConfigException(key, v, "must be true or false");
  }

  @Override
  public String toString() {
    // Never print credentials.
    return "SchemaRegistryConfig[urls=" + urls + ", basicAuth=" + (userInfo != null)
        + ", bearer=" + bearer        + ", tls=" + (tls != null) + ", requestTimeout=" + requestTimeout + ", retries=" + retries
        + ", retryBackoff=" + retryBackoff + ".." + retryBackoffMax
        + ", autoRegister=" + autoRegister + "]";
  }
}
