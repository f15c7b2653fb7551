package io.continualsft.it.schemas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.continualsft.avro.Conversation;
import io.continualsft.it.support.TestCertificates;
import io.continualsft.it.support.TestDirs;
import io.continualsft.local.SchemaRegistryServer;
import io.continualsft.schemas.registry.RegistryUnavailableException;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The registry client against a real HTTPS endpoint: Apicurio serving its API over TLS with a
 * certificate from a CA this test makes. The client trusts that CA through
 * schema.registry.ssl.truststore.* and offers a certificate of its own through
 * schema.registry.ssl.keystore.*; without the truststore it fails, as unavailable, never as a bad
 * record. (Apicurio's distribution fixes quarkus.http.ssl.client-auth at build time to NONE, so
 * the server cannot be made to require the client's certificate here.)
 * (Basic and bearer auth headers are tested against a scripted server in the schemas module:
 * Apicurio authenticates only through an OpenID Connect provider, which this suite does not run.)
 */
class RegistryTlsIT {

  @Test
  void registersAndReadsOverTlsAndRefusesAServerItDoesNotTrust() throws Exception {
    Path work = Files.createDirectories(TestDirs.fresh("registry-tls"));
    TestCertificates tls = TestCertificates.create(work.resolve("tls"));
    try (SchemaRegistryServer server = SchemaRegistryServer.start(
        SchemaRegistryServer.locateHome(), work.resolve("registry"),
        new SchemaRegistryServer.Tls(tls.serverKeystore(), tls.truststore(), tls.password()))) {
      Map<String, String> config = new HashMap<>(Map.of(
          SchemaRegistryConfig.URL, server.httpsUrl(),
          SchemaRegistryConfig.RETRIES, "1",
          SchemaRegistryConfig.SSL_TRUSTSTORE_LOCATION, tls.truststore().toString(),
          SchemaRegistryConfig.SSL_TRUSTSTORE_PASSWORD, tls.password(),
          SchemaRegistryConfig.SSL_KEYSTORE_LOCATION, tls.clientKeystore().toString(),
          SchemaRegistryConfig.SSL_KEYSTORE_PASSWORD, tls.password()));
      try (SchemaRegistryClient client =
          new SchemaRegistryClient(SchemaRegistryConfig.fromMap(config))) {
        int id = client.register("tls-test-value", Conversation.getClassSchema());
        assertThat(client.schemaById(id).getFullName())
            .isEqualTo("io.continualsft.avro.Conversation");
      }

      Map<String, String> noTruststore = new HashMap<>(config);
      noTruststore.remove(SchemaRegistryConfig.SSL_TRUSTSTORE_LOCATION);
      noTruststore.remove(SchemaRegistryConfig.SSL_TRUSTSTORE_PASSWORD);
      try (SchemaRegistryClient client =
          new SchemaRegistryClient(SchemaRegistryConfig.fromMap(noTruststore))) {
        assertThatThrownBy(client::subjects)
            .isInstanceOf(RegistryUnavailableException.class)
            .hasMessageContaining("SSLHandshakeException");
      }
    }
  }
}
