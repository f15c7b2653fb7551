package io.continualsft.schemas.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.time.Duration;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;

class SchemaRegistryConfigTest {

  @Test
  void defaults() {
    SchemaRegistryConfig c = SchemaRegistryConfig.fromMap(
        Map.of(SchemaRegistryConfig.URL, "http://localhost:8081/"));
    assertThat(c.urls()).containsExactly(URI.create("http://localhost:8081"));
    assertThat(c.userInfo()).isNull();
    assertThat(c.tls()).isNull();
    assertThat(c.requestTimeout()).isEqualTo(Duration.ofSeconds(10));
    assertThat(c.retries()).isEqualTo(5);
    assertThat(c.retryBackoff()).isEqualTo(Duration.ofMillis(100));
    assertThat(c.retryBackoffMax()).isEqualTo(Duration.ofSeconds(5));
    assertThat(c.autoRegister()).as("production default: off").isFalse();
  }

  @Test
  void severalUrlsAndUserInfoFromTheUrl() {
    SchemaRegistryConfig c = SchemaRegistryConfig.fromMap(Map.of(
        SchemaRegistryConfig.URL,
        "https://alice:s3cret@reg-a:8081/apis/ccompat/v7, https://reg-b:8081/apis/ccompat/v7"));
    assertThat(c.urls()).containsExactly(
        URI.create("https://reg-a:8081/apis/ccompat/v7"),
        URI.create("https://reg-b:8081/apis/ccompat/v7"));
    assertThat(c.userInfo()).isEqualTo("alice:s3cret");
    assertThat(c.toString()).doesNotContain("s3cret");
  }

  @Test
  void userInfoSource() {
    SchemaRegistryConfig c = SchemaRegistryConfig.fromMap(Map.of(
        SchemaRegistryConfig.URL, "http://r:8081",
        SchemaRegistryConfig.BASIC_AUTH_CREDENTIALS_SOURCE, "USER_INFO",
        SchemaRegistryConfig.BASIC_AUTH_USER_INFO, "bob:pw"));
    assertThat(c.userInfo()).isEqualTo("bob:pw");
  }

  @Test
  void everyBadValueNamesItsKey() {
    assertThatThrownBy(() -> SchemaRegistryConfig.fromMap(Map.of()))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining(SchemaRegistryConfig.URL);
    assertThatThrownBy(() -> SchemaRegistryConfig.fromMap(Map.of(
            SchemaRegistryConfig.URL, "ftp://r")))
        .hasMessageContaining(SchemaRegistryConfig.URL)
        .hasMessageContaining("http or https");
    assertThatThrownBy(() -> SchemaRegistryConfig.fromMap(Map.of(
            SchemaRegistryConfig.URL, "http://r", SchemaRegistryConfig.RETRIES, "-1")))
        .hasMessageContaining(SchemaRegistryConfig.RETRIES);
    assertThatThrownBy(() -> SchemaRegistryConfig.fromMap(Map.of(
            SchemaRegistryConfig.URL, "http://r", SchemaRegistryConfig.REQUEST_TIMEOUT_MS, "soon")))
        .hasMessageContaining(SchemaRegistryConfig.REQUEST_TIMEOUT_MS)
        .hasMessageContaining("whole number");
    assertThatThrownBy(() -> SchemaRegistryConfig.fromMap(Map.of(
            SchemaRegistryConfig.URL, "http://r", SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS, "yes")))
        .hasMessageContaining(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS);
    assertThatThrownBy(() -> SchemaRegistryConfig.fromMap(Map.of(
            SchemaRegistryConfig.URL, "http://r",
            SchemaRegistryConfig.BASIC_AUTH_CREDENTIALS_SOURCE, "USER_INFO",
            SchemaRegistryConfig.BASIC_AUTH_USER_INFO, "no-colon")))
        .hasMessageContaining(SchemaRegistryConfig.BASIC_AUTH_USER_INFO)
        .hasMessageNotContaining("no-colon");
    assertThatThrownBy(() -> SchemaRegistryConfig.fromMap(Map.of(
            SchemaRegistryConfig.URL, "http://r",
            SchemaRegistryConfig.BASIC_AUTH_CREDENTIALS_SOURCE, "SASL_INHERIT")))
        .hasMessageContaining(SchemaRegistryConfig.BASIC_AUTH_CREDENTIALS_SOURCE);
  }

  @Test
  void aMissingTruststoreIsNamedWhenTheClientIsBuilt() {
    SchemaRegistryConfig c = SchemaRegistryConfig.fromMap(Map.of(
        SchemaRegistryConfig.URL, "https://r:8081",
        SchemaRegistryConfig.SSL_TRUSTSTORE_LOCATION, "/nonexistent/truststore.p12",
        SchemaRegistryConfig.SSL_TRUSTSTORE_PASSWORD, "changeit"));
    assertThatThrownBy(() -> new SchemaRegistryClient(c))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining(SchemaRegistryConfig.SSL_TRUSTSTORE_LOCATION)
        .hasMessageContaining("/nonexistent/truststore.p12");
  }

  @Test
  void bearerAuthNamesTheMissingKeyAndNeverPrintsTheSecret() {
    assertThatThrownBy(() -> SchemaRegistryConfig.fromMap(Map.of(
            SchemaRegistryConfig.URL, "http://r",
            SchemaRegistryConfig.BEARER_AUTH_CREDENTIALS_SOURCE, "OAUTHBEARER",
            SchemaRegistryConfig.BEARER_AUTH_ISSUER_ENDPOINT_URL, "https://idp/token",
            SchemaRegistryConfig.BEARER_AUTH_CLIENT_ID, "sft")))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining(SchemaRegistryConfig.BEARER_AUTH_CLIENT_SECRET);
    SchemaRegistryConfig c = SchemaRegistryConfig.fromMap(Map.of(
        SchemaRegistryConfig.URL, "http://r",
        SchemaRegistryConfig.BEARER_AUTH_CREDENTIALS_SOURCE, "static_token",
        SchemaRegistryConfig.BEARER_AUTH_TOKEN, "very-secret-token"));
    assertThat(c.bearer().token()).isEqualTo("very-secret-token");
    assertThat(c.toString()).contains("STATIC_TOKEN").doesNotContain("very-secret-token");
    assertThatThrownBy(() -> SchemaRegistryConfig.fromMap(Map.of(
            SchemaRegistryConfig.URL, "http://u:p@r",
            SchemaRegistryConfig.BEARER_AUTH_CREDENTIALS_SOURCE, "STATIC_TOKEN",
            SchemaRegistryConfig.BEARER_AUTH_TOKEN, "t")))
        .hasMessageContaining("choose one");
    assertThatThrownBy(() -> SchemaRegistryConfig.fromMap(Map.of(
            SchemaRegistryConfig.URL, "http://r",
            SchemaRegistryConfig.BEARER_AUTH_CREDENTIALS_SOURCE, "KERBEROS")))
        .hasMessageContaining("STATIC_TOKEN or OAUTHBEARER");
  }
}
