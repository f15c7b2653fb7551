package io.continualsft.it.streams;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.RejectionReason;
import io.continualsft.avro.SftExample;
import io.continualsft.it.support.Clients;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.it.support.TestConfigs;
import io.continualsft.it.support.TestDirs;
import io.continualsft.schemas.DeadLetters;
import io.continualsft.schemas.Messages;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.streams.StreamsApp;
import io.continualsft.chat.labels.LabelingKeys;
import io.continualsft.streams.config.StreamsAppConfig;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * An example larger than the producer may send, on the real broker: with a small
 * max.request.size and a long max-length, a long conversation labels fine but its example would
 * fail the stream thread with RecordTooLargeException (and again after every restart). It is a
 * RECORD_TOO_LARGE dead letter instead, small enough to send; the app stays healthy and the
 * conversations after it become examples.
 */
@RealServices
class OversizedOutputIT {
  private static final int MAX_REQUEST = (int) DeadLetters.maxSize(1024) + 4096;

  @Test
  void anExampleOverMaxRequestSizeIsADeadLetterAndTheAppCarriesOn(KafkaCluster kafka,
      SchemaRegistry registry) throws Exception {
    String s = UUID.randomUUID().toString().substring(0, 8);
    String in = "conversations-" + s;
    String out = "examples-" + s;
    String dlq = "dead-letters-" + s;
    kafka.createTopics(1, in, out, dlq);
    Map<String, String> config = TestConfigs.streamsApp(kafka, registry, "oversized-" + s, in, out,
        dlq, Path.of(System.getProperty("qwen3.dir")), TestDirs.fresh("oversized-state"));
    config.put("producer." + ProducerConfig.MAX_REQUEST_SIZE_CONFIG, String.valueOf(MAX_REQUEST));
    config.put(StreamsAppConfig.DEAD_LETTER_MAX_ORIGINAL_BYTES, "1024");
    config.put(LabelingKeys.MAX_LENGTH, "100000");

    StringBuilder words = new StringBuilder();
    for (int w = 0; words.length() < 60_000; w++) {
      words.append("w").append(w).append(' ');
    }
    List<Conversation> sent = new ArrayList<>();
    sent.add(conversation("before", "A short answer."));
    sent.add(conversation("huge", words.toString()));
    sent.add(conversation("after", "Another short answer."));

    try (StreamsApp app = StreamsApp.start(StreamsAppConfig.of(config));
        SchemaRegistryClient client = registry.client(true);
        var producer = new KafkaProducer<>(Map.<String, Object>of(
            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()),
            new StringSerializer(), new AvroSerializer<Conversation>(client, false))) {
      for (Conversation c : sent) {
        producer.send(new ProducerRecord<>(in, c.getId(), c)).get();
      }
      List<String> examples = Clients.consume(kafka, out, AvroDeserializer.specific(
          SftExample.class, client), 2, Duration.ofSeconds(90)).stream().map(r -> r.key()).toList();
      List<Rejection> dead = Clients.consume(kafka, dlq, AvroDeserializer.specific(
          Rejection.class, client), 1, Duration.ofSeconds(30)).stream().map(r -> r.value())
          .toList();

      assertThat(examples).containsExactly("before", "after");
      assertThat(dead).hasSize(1);
      assertThat(dead.get(0).getReason()).isEqualTo(RejectionReason.RECORD_TOO_LARGE);
      assertThat(dead.get(0).getDetail())
          .contains("over the producer's max.request.size of " + MAX_REQUEST);
      assertThat(dead.get(0).getOriginalValue()).as("over the 1 KiB copy cap").isNull();
      assertThat(examples.size() + dead.size()).isEqualTo(sent.size());
      try (HttpClient http = HttpClient.newHttpClient()) {
        HttpResponse<String> health = http.send(HttpRequest.newBuilder(URI.create(
            "http://127.0.0.1:" + app.metricsPort() + "/health")).build(),
            HttpResponse.BodyHandlers.ofString());
        assertThat(health.statusCode()).isEqualTo(200);
      }
    }
  }

  private static Conversation conversation(String id, String answer) {
    return Conversation.newBuilder().setId(id)
        .setMessages(List.of(Messages.of("user", "Please answer.", null),
            Messages.of("assistant", answer, null)))
        .setCreatedAt(Instant.ofEpochMilli(System.currentTimeMillis())).build();
  }
}
