package io.continualsft.schemas.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;

/**
 * The {@code Authorization} header of each registry request: HTTP basic, a static bearer token,
 * or a bearer token fetched from an OAuth 2 token endpoint with the client-credentials grant and
 * refreshed before it expires. The secrets never appear in {@link #toString()} or in errors.
 */
sealed interface RegistryCredentials {
  /** The header value, or null for none. */
  String authorization(HttpClient http, Duration timeout);

  /** No credentials. */
  record None() implements RegistryCredentials {
    @Override
    public String authorization(HttpClient http, Duration timeout) {
      return null;
    }
  }

  /** HTTP basic auth with {@code user:password}. */
  record Basic(String header) implements RegistryCredentials {
    static Basic of(String userInfo) {
      return new Basic("Basic " + Base64.getEncoder()
          .encodeToString(userInfo.getBytes(StandardCharsets.UTF_8)));
    }

    @Override
    public String authorization(HttpClient http, Duration timeout) {
      return header;
    }

    @Override
    public String toString() {
      return "Basic[<hidden>]";
    }
  }

  /** A bearer token given in configuration. */
  record StaticBearer(String token) implements RegistryCredentials {
    @Override
    public String authorization(HttpClient http, Duration timeout) {
      return "Bearer " + token;
    }

    @Override
    public String toString() {
      return "StaticBearer[<hidden>]";
    }
  }

  /** OAuth 2 client credentials (RFC 6749 section 4.4), as Confluent's OAUTHBEARER source. */
  final class ClientCredentials implements RegistryCredentials {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** A token response larger than this is refused: a token endpoint is untrusted input too. */
    private static final int MAX_RESPONSE_BYTES = 64 * 1024;

    private final URI tokenEndpoint;
    private final String clientId;
    private final String clientSecret;
    private final String scope;
    private final Clock clock;
    private String token;
    private Instant refreshAt = Instant.MIN;

    ClientCredentials(URI tokenEndpoint, String clientId, String clientSecret, String scope,
        Clock clock) {
      this.tokenEndpoint = tokenEndpoint;
      this.clientId = clientId;
      this.clientSecret = clientSecret;
      this.scope = scope;
      this.clock = clock;
    }

    @Override
    public synchronized String authorization(HttpClient http, Duration timeout) {
      if (token == null || !clock.instant().isBefore(refreshAt)) {
        fetch(http, timeout);
      }
      return "Bearer " + token;
    }

    private void fetch(HttpClient http, Duration timeout) {
      StringBuilder form = new StringBuilder("grant_type=client_credentials");
      if (scope != null) {
        form.append("&scope=").append(URLEncoder.encode(scope, StandardCharsets.UTF_8));
      }
      String basic = Base64.getEncoder().encodeToString(
          (URLEncoder.encode(clientId, StandardCharsets.UTF_8) + ":"
              + URLEncoder.encode(clientSecret, StandardCharsets.UTF_8))
              .getBytes(StandardCharsets.UTF_8));
      HttpRequest request = HttpRequest.newBuilder(tokenEndpoint)
          .timeout(timeout)
          .header("Content-Type", "application/x-www-form-urlencoded")
          .header("Accept", "application/json")
          .header("Authorization", "Basic " + basic)
          .POST(HttpRequest.BodyPublishers.ofString(form.toString()))
          .build();
      HttpResponse<byte[]> response;
      try {
        response = BoundedBodies.send(http, request, MAX_RESPONSE_BYTES, timeout);
      } catch (IOException e) {
        throw new RegistryUnavailableException(tokenEndpoint.toString(),
            "the OAuth token endpoint could not be reached: " + e.getMessage(), e);
      }
      if (response.statusCode() / 100 != 2) {
        throw new SchemaRegistryException.RequestFailed("the OAuth token endpoint "
            + tokenEndpoint + " answered HTTP " + response.statusCode() + " (check "
            + SchemaRegistryConfig.BEARER_AUTH_CLIENT_ID + " and "
            + SchemaRegistryConfig.BEARER_AUTH_CLIENT_SECRET + ")", -1);
      }
      JsonNode body;
      try {
        body = JSON.readTree(response.body());
      } catch (IOException e) {
        body = null;
      }
      String accessToken = body == null ? "" : body.path("access_token").asText("");
      if (accessToken.isEmpty()) {
        throw new SchemaRegistryException.RequestFailed("the OAuth token endpoint " + tokenEndpoint
            + " answered without an access_token", -1);
      }
      long expiresIn = body.path("expires_in").asLong(300);
      token = accessToken;
      // Refresh at 80 % of the lifetime, so a request never carries a token about to expire.
      refreshAt = clock.instant().plusSeconds(Math.max(1, expiresIn * 8 / 10));
    }

    @Override
    public String toString() {
      return "ClientCredentials[endpoint=" + tokenEndpoint + ", client=<hidden>]";
    }
  }
}
