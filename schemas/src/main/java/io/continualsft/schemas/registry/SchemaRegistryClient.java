package io.continualsft.schemas.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.continualsft.schemas.serde.UnknownSchemaIdException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.apache.avro.Schema;
import org.apache.avro.SchemaParseException;
import org.apache.kafka.common.config.ConfigException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A small client for the Confluent Schema Registry REST API, the dialect that Confluent's server,
 * Apicurio ({@code /apis/ccompat/v7}), Karapace and Redpanda all speak.
 *
 * <p>Hand-written because Confluent's own client is not published to Maven Central, and Apicurio's
 * serde speaks only Apicurio's native API. It covers what the serde and operators need: register,
 * look up (by id, by subject + schema, by subject + version), and check compatibility. Schemas by
 * id are immutable in every registry, so they are cached forever; so are subject + schema → id.
 *
 * <p>Connection errors, timeouts and 5xx answers are retried with exponential backoff (with jitter),
 * moving on to the next URL when several are configured; when every attempt fails the call throws
 * {@link RegistryUnavailableException}. 4xx answers are not retried.
 */
public final class SchemaRegistryClient implements SchemaResolver, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SchemaRegistryClient.class);
  private static final String CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";
  private static final ObjectMapper JSON = new ObjectMapper();

  // Confluent error codes (also returned by Apicurio's ccompat API).
  private static final int SUBJECT_NOT_FOUND = 40401;
  private static final int VERSION_NOT_FOUND = 40402;
  private static final int SCHEMA_NOT_FOUND = 40403;

  /**
   * The largest response read. A schema is a few kilobytes; a subject list of many thousands of
   * subjects fits too. Anything larger is not a registry's answer.
   */
  static final int MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

  private final SchemaRegistryConfig config;
  private final HttpClient http;
  private final RegistryCredentials credentials;
  private final Map<Integer, Schema> schemasById = new ConcurrentHashMap<>();
  private final Map<SubjectSchema, Integer> idsBySubjectSchema = new ConcurrentHashMap<>();

  private record SubjectSchema(String subject, Schema schema) {}

  /** A schema as stored under a subject. */
  public record RegisteredSchema(String subject, int version, int id, Schema schema) {}

  /** The registry's verdict on a candidate schema; {@code messages} says why when incompatible. */
  public record CompatibilityResult(boolean compatible, List<String> messages) {}

  public SchemaRegistryClient(SchemaRegistryConfig config) {
    this.config = config;
    HttpClient.Builder builder =
        HttpClient.newBuilder()
            .connectTimeout(config.requestTimeout())
            .followRedirects(HttpClient.Redirect.NORMAL);
    if (config.tls() != null) {
      builder.sslContext(sslContext(config.tls()));
    }
    this.http = builder.build();
    this.credentials = credentials(config);
  }

  private static RegistryCredentials credentials(SchemaRegistryConfig config) {
    if (config.userInfo() != null) {
      return RegistryCredentials.Basic.of(config.userInfo());
    }
    SchemaRegistryConfig.BearerAuth bearer = config.bearer();
    if (bearer == null) {
      return new RegistryCredentials.None();
    }
    return bearer.issuerEndpoint() == null
        ? new RegistryCredentials.StaticBearer(bearer.token())
        : new RegistryCredentials.ClientCredentials(bearer.issuerEndpoint(), bearer.clientId(),
            bearer.clientSecret(), bearer.scope(), java.time.Clock.systemUTC());
  }

  public SchemaRegistryConfig config() {
    return config;
  }

  /** The first configured URL, for messages. */
  public String url() {
    return config.urls().get(0).toString();
  }

  /**
   * Registers {@code schema} under {@code subject} (or finds it already there) and returns its id.
   *
   * @throws IncompatibleSchemaException when the subject's compatibility rule refuses it
   */
  public int register(String subject, Schema schema) {
    Integer cached = idsBySubjectSchema.get(new SubjectSchema(subject, schema));
    if (cached != null) {
      return cached;
    }
    Response r = send("POST", "/subjects/" + encode(subject) + "/versions", schemaBody(schema));
    if (r.status == 409) {
      throw new IncompatibleSchemaException(subject, r.message());
    }
    r.requireOk("register a schema under subject '" + subject + "'");
    int id = r.body.path("id").asInt(-1);
    if (id < 0) {
      throw r.unexpected("register under subject '" + subject + "' answered without an id");
    }
    remember(subject, schema, id);
    return id;
  }

  /** Registers (auto-registration on) or looks up (off) the id of {@code schema}. */
  @Override
  public int idFor(String subject, Schema schema) {
    return config.autoRegister()
        ? register(subject, schema)
        : lookup(subject, schema).orElseThrow(() -> new SchemaNotRegisteredException(subject, url()));
  }

  /** The id of {@code schema} under {@code subject}, or empty when the subject does not hold it. */
  public OptionalInt lookup(String subject, Schema schema) {
    Integer cached = idsBySubjectSchema.get(new SubjectSchema(subject, schema));
    if (cached != null) {
      return OptionalInt.of(cached);
    }
    Response r = send("POST", "/subjects/" + encode(subject), schemaBody(schema));
    if (r.status == 404 && (r.errorCode() == SUBJECT_NOT_FOUND || r.errorCode() == SCHEMA_NOT_FOUND)) {
      return OptionalInt.empty();
    }
    r.requireOk("look up a schema under subject '" + subject + "'");
    int id = r.body.path("id").asInt(-1);
    remember(subject, schema, id);
    return OptionalInt.of(id);
  }

  /**
   * The schema with this global id.
   *
   * @throws UnknownSchemaIdException when the registry does not know the id (a bad record, not an
   *     outage)
   */
  @Override
  public Schema schemaById(int id) {
    Schema cached = schemasById.get(id);
    if (cached != null) {
      return cached;
    }
    Response r = send("GET", "/schemas/ids/" + id, null);
    if (r.status == 404 && r.errorCode() == SCHEMA_NOT_FOUND) {
      throw new UnknownSchemaIdException(id, url(), r.message());
    }
    r.requireOk("fetch schema id " + id);
    Schema schema = parse(r.body.path("schema").asText(), "schema id " + id);
    Schema previous = schemasById.putIfAbsent(id, schema);
    return previous == null ? schema : previous;
  }

  /** A subject's schema at {@code version} ("latest" or a number), or empty when absent. */
  public Optional<RegisteredSchema> schemaByVersion(String subject, String version) {
    Response r = send("GET", "/subjects/" + encode(subject) + "/versions/" + encode(version), null);
    if (r.status == 404
        && (r.errorCode() == SUBJECT_NOT_FOUND || r.errorCode() == VERSION_NOT_FOUND)) {
      return Optional.empty();
    }
    r.requireOk("fetch version " + version + " of subject '" + subject + "'");
    int id = r.body.path("id").asInt();
    Schema schema = parse(r.body.path("schema").asText(), "subject " + subject);
    schemasById.putIfAbsent(id, schema);
    return Optional.of(new RegisteredSchema(subject, r.body.path("version").asInt(), id, schema));
  }

  /**
   * Asks whether {@code schema} could be registered under {@code subject} now. A subject that does
   * not exist yet accepts anything.
   */
  public CompatibilityResult testCompatibility(String subject, Schema schema) {
    Response r =
        send(
            "POST",
            "/compatibility/subjects/" + encode(subject) + "/versions/latest?verbose=true",
            schemaBody(schema));
    if (r.status == 404
        && (r.errorCode() == SUBJECT_NOT_FOUND || r.errorCode() == VERSION_NOT_FOUND)) {
      return new CompatibilityResult(true, List.of());
    }
    r.requireOk("check compatibility under subject '" + subject + "'");
    List<String> messages = new ArrayList<>();
    r.body.path("messages").forEach(m -> messages.add(m.asText()));
    return new CompatibilityResult(r.body.path("is_compatible").asBoolean(false), messages);
  }

  /** All subjects. */
  public List<String> subjects() {
    Response r = send("GET", "/subjects", null);
    r.requireOk("list subjects");
    List<String> subjects = new ArrayList<>();
    r.body.forEach(s -> subjects.add(s.asText()));
    return subjects;
  }

  @Override
  public void close() {
    http.close();
  }

  private void remember(String subject, Schema schema, int id) {
    idsBySubjectSchema.put(new SubjectSchema(subject, schema), id);
    schemasById.putIfAbsent(id, schema);
  }

  private static Schema parse(String text, String what) {
    try {
      return new Schema.Parser().parse(text);
    } catch (SchemaParseException e) {
      throw new SchemaRegistryException.RequestFailed(
          "the registry returned a schema for " + what + " that is not valid Avro: " + e.getMessage(),
          -1);
    }
  }

  private static String schemaBody(Schema schema) {
    ObjectNode body = JSON.createObjectNode();
    body.put("schema", PortableSchemas.text(schema));
    return body.toString();
  }

  private static String encode(String pathSegment) {
    return URLEncoder.encode(pathSegment, StandardCharsets.UTF_8).replace("+", "%20");
  }

  // --- transport -----------------------------------------------------------------------------

  private final class Response {
    final URI uri;
    final int status;
    final JsonNode body;

    Response(URI uri, int status, JsonNode body) {
      this.uri = uri;
      this.status = status;
      this.body = body;
    }

    int errorCode() {
      return body.path("error_code").asInt(-1);
    }

    String message() {
      String m = body.path("message").asText("");
      return m.isEmpty() ? body.toString() : m;
    }

    void requireOk(String action) {
      if (status == 404 && errorCode() < 0) {
        // Not the registry's "no such subject/version/schema" (those carry an error code): the
        // URL reaches something that is not a Confluent-API registry (a wrong path, a proxy).
        // Unavailable, never "unknown": a record must not be dead-lettered for it.
        throw new RegistryUnavailableException(uri.toString(), "HTTP 404 without a registry error"
            + " code; check " + SchemaRegistryConfig.URL + " (Apicurio: .../apis/ccompat/v7)",
            null);
      }
      if (status / 100 != 2) {
        String hint =
            status == 401 || status == 403
                ? " (check the credentials: " + SchemaRegistryConfig.BASIC_AUTH_USER_INFO + " or "
                    + SchemaRegistryConfig.BEARER_AUTH_CREDENTIALS_SOURCE + ")"
                : "";
        throw new SchemaRegistryException.RequestFailed(
            "could not " + action + ": " + uri + " answered HTTP " + status
                + (errorCode() >= 0 ? " error_code " + errorCode() : "") + ": " + message() + hint,
            errorCode());
      }
    }

    SchemaRegistryException unexpected(String what) {
      return new SchemaRegistryException.RequestFailed(what + " (" + uri + ", HTTP " + status
          + ")", errorCode());
    }
  }

  private Response send(String method, String pathAndQuery, String body) {
    List<URI> urls = config.urls();
    long backoffMs = Math.max(1, config.retryBackoff().toMillis());
    String lastProblem = "no attempt made";
    Throwable lastCause = null;
    URI lastUri = urls.get(0);
    for (int attempt = 0; attempt <= config.retries(); attempt++) {
      URI base = urls.get(attempt % urls.size());
      URI uri = URI.create(base + pathAndQuery);
      lastUri = base;
      HttpRequest.Builder request =
          HttpRequest.newBuilder(uri)
              .timeout(config.requestTimeout())
              .header("Accept", CONTENT_TYPE + ", application/json");
      String authorization = credentials.authorization(http, config.requestTimeout());
      if (authorization != null) {
        request.header("Authorization", authorization);
      }
      if (body == null) {
        request.method(method, HttpRequest.BodyPublishers.noBody());
      } else {
        request.header("Content-Type", CONTENT_TYPE);
        request.method(method, HttpRequest.BodyPublishers.ofString(body));
      }
      try {
        HttpResponse<byte[]> response = BoundedBodies.send(http, request.build(),
            MAX_RESPONSE_BYTES, config.requestTimeout());
        int status = response.statusCode();
        if (status < 500 && status != 408 && status != 429) {
          return new Response(uri, status, readJson(response.body()));
        }
        lastProblem = "HTTP " + status + " from " + uri;
        lastCause = null;
      } catch (IOException e) {
        if (Thread.currentThread().isInterrupted()) {
          throw new RegistryUnavailableException(base.toString(), "interrupted", e);
        }
        lastProblem = e.getClass().getSimpleName()
            + (e.getMessage() == null ? "" : ": " + e.getMessage()) + " (" + uri + ")";
        lastCause = e;
      }
      if (attempt < config.retries()) {
        long sleep = withJitter(backoffMs);
        log.warn("schema registry request failed ({}); retry {}/{} in {} ms",
            lastProblem, attempt + 1, config.retries(), sleep);
        try {
          Thread.sleep(sleep);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new RegistryUnavailableException(base.toString(), "interrupted", e);
        }
        backoffMs = Math.min(backoffMs * 2, Math.max(1, config.retryBackoffMax().toMillis()));
      }
    }
    throw new RegistryUnavailableException(
        urls.size() == 1 ? lastUri.toString() : urls.toString(),
        lastProblem + " after " + (config.retries() + 1) + " attempts",
        lastCause);
  }

  private static long withJitter(long ms) {
    // +-20 %, so many clients that lost the registry together do not retry in lockstep.
    return Math.max(1, (long) (ms * (0.8 + 0.4 * ThreadLocalRandom.current().nextDouble())));
  }

  private static JsonNode readJson(byte[] bytes) {
    if (bytes == null || bytes.length == 0) {
      return JSON.createObjectNode();
    }
    try {
      return JSON.readTree(bytes);
    } catch (IOException e) {
      // A proxy's HTML error page, say: keep the text for the error message.
      ObjectNode node = JSON.createObjectNode();
      node.put("message", new String(bytes, StandardCharsets.UTF_8));
      return node;
    }
  }

  private static SSLContext sslContext(SchemaRegistryConfig.TlsConfig tls) {
    try {
      TrustManagerFactory tmf = null;
      if (tls.truststoreLocation() != null) {
        KeyStore trust = loadStore(SchemaRegistryConfig.SSL_TRUSTSTORE_LOCATION,
            tls.truststoreLocation(), tls.truststoreType(), tls.truststorePassword());
        tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
      }
      KeyManagerFactory kmf = null;
      if (tls.keystoreLocation() != null) {
        KeyStore keys = loadStore(SchemaRegistryConfig.SSL_KEYSTORE_LOCATION,
            tls.keystoreLocation(), tls.keystoreType(), tls.keystorePassword());
        kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        String keyPassword =
            tls.keyPassword() != null ? tls.keyPassword() : tls.keystorePassword();
        kmf.init(keys, keyPassword == null ? null : keyPassword.toCharArray());
      }
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(kmf == null ? null : kmf.getKeyManagers(),
          tmf == null ? null : tmf.getTrustManagers(), null);
      return context;
    } catch (GeneralSecurityException e) {
      throw new ConfigException("could not set up TLS for the schema registry: " + e.getMessage());
    }
  }

  private static KeyStore loadStore(String key, String location, String type, String password) {
    try (InputStream in = Files.newInputStream(Path.of(location))) {
      KeyStore store = KeyStore.getInstance(type);
      store.load(in, password == null ? null : password.toCharArray());
      return store;
    } catch (IOException | GeneralSecurityException e) {
      throw new ConfigException(key, location, "could not load the " + type + " store: " + e);
    }
  }
}
