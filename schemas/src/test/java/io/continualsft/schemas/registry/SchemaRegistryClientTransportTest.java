package io.continualsft.schemas.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.continualsft.avro.Conversation;
import io.continualsft.schemas.serde.BadRecordException;
import io.continualsft.schemas.serde.UnknownSchemaIdException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The client's transport rules: which answers are retried, failover between URLs, the auth header,
 * and how errors are typed. A real registry cannot be made to answer 503 or drop connections on
 * demand, so a scripted HTTP server on loopback stands in for it here; everything the real registry
 * does is tested against Apicurio in the integration-tests module.
 */
class SchemaRegistryClientTransportTest {
  private HttpServer server;
  private final Deque<int[]> script = new ArrayDeque<>(); // {status} per request, in order
  private final Deque<String> bodies = new ArrayDeque<>();
  private final List<String> seenPaths = new ArrayList<>();
  private final List<String> seenAuth = new ArrayList<>();
  private final List<String> seenBodies = new ArrayList<>();

  @BeforeEach
  void start() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/", this::answer);
    server.start();
  }

  @AfterEach
  void stop() {
    server.stop(0);
  }

  private synchronized void answer(HttpExchange exchange) throws IOException {
    seenPaths.add(exchange.getRequestMethod() + " " + exchange.getRequestURI());
    seenAuth.add(exchange.getRequestHeaders().getFirst("Authorization"));
    seenBodies.add(new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
    int status = script.isEmpty() ? 500 : script.poll()[0];
    byte[] body = (bodies.isEmpty() ? "{}" : bodies.poll()).getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().add("Content-Type", "application/vnd.schemaregistry.v1+json");
    exchange.sendResponseHeaders(status, body.length);
    exchange.getResponseBody().write(body);
    exchange.close();
  }

  private void then(int status, String body) {
    script.add(new int[] {status});
    bodies.add(body);
  }

  private String url() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  private SchemaRegistryClient client(Map<String, String> extra) {
    Map<String, String> config = new java.util.HashMap<>(Map.of(
        SchemaRegistryConfig.URL, url(),
        SchemaRegistryConfig.RETRIES, "3",
        SchemaRegistryConfig.RETRY_BACKOFF_MS, "1",
        SchemaRegistryConfig.RETRY_BACKOFF_MAX_MS, "4"));
    config.putAll(extra);
    return new SchemaRegistryClient(SchemaRegistryConfig.fromMap(config));
  }

  private static String schemaJson() {
    return "{\"schema\": " + com.fasterxml.jackson.databind.node.TextNode.valueOf(
        Conversation.getClassSchema().toString()) + "}";
  }

  @Test
  void fiveHundredsAreRetriedThenTheAnswerIsCachedForever() {
    then(503, "{\"error_code\": 50301, \"message\": \"busy\"}");
    then(502, "<html>bad gateway</html>");
    then(200, schemaJson());
    try (SchemaRegistryClient client = client(Map.of())) {
      assertThat(client.schemaById(7)).isEqualTo(Conversation.getClassSchema());
      assertThat(client.schemaById(7)).isEqualTo(Conversation.getClassSchema());
    }
    assertThat(seenPaths).containsExactly(
        "GET /schemas/ids/7", "GET /schemas/ids/7", "GET /schemas/ids/7");
  }

  @Test
  void afterTheLastRetryTheRegistryIsUnavailableNotTheRecordBad() {
    for (int i = 0; i < 4; i++) {
      then(503, "{}");
    }
    try (SchemaRegistryClient client = client(Map.of())) {
      assertThatThrownBy(() -> client.schemaById(7))
          .isInstanceOf(RegistryUnavailableException.class)
          .isNotInstanceOf(BadRecordException.class)
          .hasMessageContaining(url())
          .hasMessageContaining("HTTP 503")
          .hasMessageContaining("after 4 attempts");
    }
    assertThat(seenPaths).hasSize(4);
  }

  @Test
  void anUnknownIdIsNotRetried() {
    then(404, "{\"error_code\": 40403, \"message\": \"Schema 7 not found\"}");
    try (SchemaRegistryClient client = client(Map.of())) {
      assertThatThrownBy(() -> client.schemaById(7))
          .isInstanceOf(UnknownSchemaIdException.class)
          .hasMessageContaining("schema id 7")
          .hasMessageContaining("Schema 7 not found");
    }
    assertThat(seenPaths).hasSize(1);
  }

  @Test
  void unauthorisedIsNotRetriedAndSaysWhatToCheck() {
    then(401, "{\"error_code\": 401, \"message\": \"Unauthorized\"}");
    try (SchemaRegistryClient client = client(Map.of())) {
      assertThatThrownBy(() -> client.subjects())
          .isInstanceOf(SchemaRegistryException.RequestFailed.class)
          .hasMessageContaining("HTTP 401")
          .hasMessageContaining(SchemaRegistryConfig.BASIC_AUTH_USER_INFO);
    }
    assertThat(seenPaths).hasSize(1);
  }

  @Test
  void basicAuthIsSentOnEveryRequest() {
    then(200, "[\"a-value\"]");
    try (SchemaRegistryClient client = client(Map.of(
        SchemaRegistryConfig.BASIC_AUTH_CREDENTIALS_SOURCE, "USER_INFO",
        SchemaRegistryConfig.BASIC_AUTH_USER_INFO, "alice:s3cret"))) {
      assertThat(client.subjects()).containsExactly("a-value");
    }
    assertThat(seenAuth).containsExactly("Basic YWxpY2U6czNjcmV0");
  }

  @Test
  void failsOverToTheNextUrlWhenOneIsDown() throws IOException {
    int deadPort;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      deadPort = s.getLocalPort();
    }
    then(200, "{\"id\": 12}");
    try (SchemaRegistryClient client = client(Map.of(
        SchemaRegistryConfig.URL, "http://127.0.0.1:" + deadPort + "," + url()))) {
      assertThat(client.register("t-value", Conversation.getClassSchema())).isEqualTo(12);
      assertThat(client.register("t-value", Conversation.getClassSchema()))
          .as("cached").isEqualTo(12);
    }
    assertThat(seenPaths).containsExactly("POST /subjects/t-value/versions");
  }

  @Test
  void aConflictOnRegisterIsAnIncompatibleSchema() {
    then(409, "{\"error_code\": 409, \"message\": \"READER_FIELD_MISSING_DEFAULT_VALUE\"}");
    try (SchemaRegistryClient client = client(Map.of())) {
      assertThatThrownBy(() -> client.register("t-value", Conversation.getClassSchema()))
          .isInstanceOf(IncompatibleSchemaException.class)
          .hasMessageContaining("'t-value'")
          .hasMessageContaining("READER_FIELD_MISSING_DEFAULT_VALUE");
    }
  }

  @Test
  void subjectNamesAreEscapedInPaths() {
    then(404, "{\"error_code\": 40401, \"message\": \"Subject not found\"}");
    try (SchemaRegistryClient client = client(Map.of())) {
      assertThat(client.lookup("a topic/with?odd-value", Conversation.getClassSchema())).isEmpty();
    }
    assertThat(seenPaths).containsExactly("POST /subjects/a%20topic%2Fwith%3Fodd-value");
  }

  @Test
  void aNotFoundWithoutARegistryErrorCodeIsAnOutageNotAnUnknownSchema() {
    // A wrong path (say, Apicurio's URL without /apis/ccompat/v7) answers a bare 404: dead-lettering
    // every record as UNKNOWN_SCHEMA_ID would lose them all.
    then(404, "<html>Not Found</html>");
    try (SchemaRegistryClient client = client(Map.of())) {
      assertThatThrownBy(() -> client.schemaById(7))
          .isInstanceOf(RegistryUnavailableException.class)
          .isNotInstanceOf(BadRecordException.class)
          .hasMessageContaining("HTTP 404 without a registry error code")
          .hasMessageContaining(SchemaRegistryConfig.URL);
    }
  }

  @Test
  void aResponseBodyOverTheLimitIsRefusedNotRead() {
    String huge = "[\"" + "s".repeat(SchemaRegistryClient.MAX_RESPONSE_BYTES) + "\"]";
    for (int i = 0; i < 4; i++) {
      then(200, huge);
    }
    try (SchemaRegistryClient client = client(Map.of())) {
      assertThatThrownBy(client::subjects)
          .isInstanceOf(RegistryUnavailableException.class)
          .hasMessageContaining("over the limit of " + SchemaRegistryClient.MAX_RESPONSE_BYTES);
    }
  }

  @Test
  void schemasAreSentWithoutJavaOnlyProperties() {
    then(200, "{\"id\": 3}");
    try (SchemaRegistryClient client = client(Map.of())) {
      client.register("t-value", Conversation.getClassSchema());
    }
    assertThat(Conversation.getClassSchema().toString()).contains("avro.java.string");
    assertThat(seenBodies.get(0)).doesNotContain("avro.java").contains("\\\"id\\\"");
  }

  @Test
  void aStaticBearerTokenIsSentOnEveryRequest() {
    then(200, "[]");
    then(200, "[]");
    try (SchemaRegistryClient client = client(Map.of(
        SchemaRegistryConfig.BEARER_AUTH_CREDENTIALS_SOURCE, "STATIC_TOKEN",
        SchemaRegistryConfig.BEARER_AUTH_TOKEN, "t0ken"))) {
      client.subjects();
      client.subjects();
    }
    assertThat(seenAuth).containsExactly("Bearer t0ken", "Bearer t0ken");
  }

  @Test
  void oauthClientCredentialsFetchATokenOnceAndReuseIt() {
    then(200, "{\"access_token\": \"abc.def\", \"token_type\": \"Bearer\", \"expires_in\": 3600}");
    then(200, "[]");
    then(200, "[]");
    try (SchemaRegistryClient client = client(Map.of(
        SchemaRegistryConfig.BEARER_AUTH_CREDENTIALS_SOURCE, "OAUTHBEARER",
        SchemaRegistryConfig.BEARER_AUTH_ISSUER_ENDPOINT_URL, url() + "/oauth/token",
        SchemaRegistryConfig.BEARER_AUTH_CLIENT_ID, "sft",
        SchemaRegistryConfig.BEARER_AUTH_CLIENT_SECRET, "pw",
        SchemaRegistryConfig.BEARER_AUTH_SCOPE, "registry"))) {
      client.subjects();
      client.subjects();
    }
    assertThat(seenPaths).containsExactly("POST /oauth/token", "GET /subjects", "GET /subjects");
    assertThat(seenAuth).containsExactly("Basic c2Z0OnB3", "Bearer abc.def", "Bearer abc.def");
    assertThat(seenBodies.get(0)).isEqualTo("grant_type=client_credentials&scope=registry");
  }

  @Test
  void aRefusedTokenRequestSaysWhatToCheckWithoutTheSecret() {
    then(401, "{\"error\": \"invalid_client\"}");
    try (SchemaRegistryClient client = client(Map.of(
        SchemaRegistryConfig.BEARER_AUTH_CREDENTIALS_SOURCE, "OAUTHBEARER",
        SchemaRegistryConfig.BEARER_AUTH_ISSUER_ENDPOINT_URL, url() + "/oauth/token",
        SchemaRegistryConfig.BEARER_AUTH_CLIENT_ID, "sft",
        SchemaRegistryConfig.BEARER_AUTH_CLIENT_SECRET, "pw-secret-123"))) {
      assertThatThrownBy(client::subjects)
          .hasMessageContaining("HTTP 401")
          .hasMessageContaining(SchemaRegistryConfig.BEARER_AUTH_CLIENT_SECRET)
          .hasMessageNotContaining("pw-secret-123");
    }
  }
}
