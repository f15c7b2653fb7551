package io.continualsft.it.schemas;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.schemas.SftTopics;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * The registry contract for every language: each subject's schema, registered the way the
 * services register it, is found by a lookup with the raw text of its {@code .avsc} file, which
 * is what Confluent's non-Java clients (Python's confluent-kafka with auto.register.schemas off,
 * Go, .NET) send: {@code POST /subjects/<subject>} with {@code {"schema": "<the file>"}}.
 */
@RealServices
class AvscLookupIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path AVRO_DIR = Path.of("..", "schemas", "src", "main", "avro");

  @Test
  void everySubjectIsFoundByItsAvscText(SchemaRegistry registry) throws Exception {
    String suffix = "-" + UUID.randomUUID().toString().substring(0, 8);
    try (SchemaRegistryClient client = registry.client(true);
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
      for (SftTopics.Topic topic : SftTopics.all()) {
        String subject = topic.name() + suffix + "-value";
        int id = client.register(subject, topic.valueSchema());
        String avsc = Files.readString(AVRO_DIR.resolve(
            topic.valueSchema().getName() + ".avsc"));

        HttpResponse<String> lookup = http.send(HttpRequest.newBuilder(URI.create(registry.url()
                + "/subjects/" + URLEncoder.encode(subject, StandardCharsets.UTF_8)))
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .POST(HttpRequest.BodyPublishers.ofString(
                JSON.createObjectNode().put("schema", avsc).toString()))
            .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(lookup.statusCode()).as(subject + ": " + lookup.body()).isEqualTo(200);
        assertThat(JSON.readTree(lookup.body()).path("id").asInt()).as(subject).isEqualTo(id);

        HttpResponse<String> stored = http.send(HttpRequest.newBuilder(URI.create(
            registry.url() + "/schemas/ids/" + id)).build(), HttpResponse.BodyHandlers.ofString());
        JsonNode schema = JSON.readTree(JSON.readTree(stored.body()).path("schema").asText());
        assertThat(schema.toString()).as(subject).doesNotContain("avro.java");
      }
    }
  }
}
