package io.continualsft.it.streams;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.Conversation;
import io.continualsft.it.support.Clients;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.it.support.TestDirs;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.streams.cli.StreamsAppCli;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

/** The produce command sends a JSONL file to a real topic, keyed by id, and counts what it skips. */
@RealServices
class ProduceCommandIT {

  @Test
  void sendsEveryValidLineAsAConversationKeyedById(KafkaCluster kafka, SchemaRegistry registry)
      throws Exception {
    String topic = kafka.newTopic("produce-cli", 1);
    Path dir = TestDirs.fresh("produce-cli");
    Files.createDirectories(dir);
    Path input = dir.resolve("in.jsonl");
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 120; i++) {
      lines.add("{\"id\": \"c" + i + "\", \"conversations\": [{\"role\": \"user\", \"content\":"
          + " \"q" + i + "\"}, {\"role\": \"assistant\", \"content\": \"a" + i + "\"}]}");
    }
    lines.add("{\"messages\": [{\"role\": \"user\", \"content\": \"no id\"},"
        + " {\"role\": \"assistant\", \"content\": \"hashed\"}], \"adapter\": \"other\"}");
    lines.add("{broken");
    Files.write(input, lines, StandardCharsets.UTF_8);

    int code = StreamsAppCli.commandLine().execute("produce", "--bootstrap",
        kafka.bootstrapServers(), "--registry", registry.url(), "--topic", topic,
        "--input", input.toString(), "--adapter", "support-bot");

    assertThat(code).as("exit code 3: some lines were skipped").isEqualTo(3);
    try (SchemaRegistryClient client = registry.client(false)) {
      List<ConsumerRecord<String, Conversation>> read = Clients.consume(kafka, topic,
          AvroDeserializer.specific(Conversation.class, client), 121, Duration.ofSeconds(30));
      assertThat(read).hasSize(121);
      assertThat(read.get(0).key()).isEqualTo("c0");
      assertThat(read.get(0).value().getAdapter()).isEqualTo("support-bot");
      assertThat(read.get(0).value().getMessages().get(1).getContent()).isEqualTo("a0");
      ConsumerRecord<String, Conversation> hashed = read.get(120);
      assertThat(hashed.key()).matches("[0-9a-f]{32}").isEqualTo(hashed.value().getId());
      assertThat(hashed.value().getAdapter()).isEqualTo("other");
    }
  }
}
