package io.continualsft.runtime.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SecretsTest {
  @Test
  void everyCredentialKeyIsHiddenAndNothingElse() {
    Map<String, String> config = new LinkedHashMap<>();
    config.put("sasl.jaas.config", "ScramLoginModule required username=\"u\" password=\"pw-1-x\";");
    config.put("ssl.truststore.password", "pw-2-x");
    config.put("ssl.keystore.password", "pw-3-x");
    config.put("ssl.key.password", "pw-4-x");
    config.put("basic.auth.user.info", "user:pw-5-x");
    config.put("bearer.auth.token", "pw-6-x");
    config.put("bearer.auth.client.secret", "pw-7-x");
    config.put("schema.registry.ssl.truststore.password", "pw-8-x");
    config.put("basic.auth.credentials.source", "USER_INFO");
    config.put("bearer.auth.credentials.source", "OAUTHBEARER");
    config.put("security.protocol", "SASL_SSL");
    config.put("ssl.truststore.location", "/etc/tls/trust.p12");
    Map<String, String> shown = Secrets.redacted(config);
    assertThat(shown.toString()).doesNotContain("pw-1-x", "pw-2-x", "pw-3-x", "pw-4-x",
        "pw-5-x", "pw-6-x", "pw-7-x", "pw-8-x");
    assertThat(shown).containsEntry("basic.auth.credentials.source", "USER_INFO")
        .containsEntry("bearer.auth.credentials.source", "OAUTHBEARER")
        .containsEntry("security.protocol", "SASL_SSL")
        .containsEntry("ssl.truststore.location", "/etc/tls/trust.p12")
        .containsEntry("sasl.jaas.config", "[hidden]");
  }
}
