package io.continualsft.local;

import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.Conversation;
import io.continualsft.avro.Message;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.SftExample;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroSerde;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.apache.avro.Schema;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The local default: the real broker and the real registry on loopback, the project's topics and
 * schemas, and (as the later modules land) the streams app and the trainer. Today it starts the
 * services, creates the topics, registers the schemas, proves a round trip, and says plainly what
 * is not built yet.
 */
@Command(
    name = "local",
    mixinStandardHelpOptions = true,
    description = "Runs the pipeline locally on an embedded Kafka broker and schema registry.")
public final class LocalStackMain implements Callable<Integer> {
  /** Default topic names and the record type each one carries. */
  static final Map<String, Schema> TOPICS = Map.of(
      "sft.conversations", Conversation.getClassSchema(),
      "sft.examples", SftExample.getClassSchema(),
      "sft.conversations.dlq", Rejection.getClassSchema(),
      "sft.examples.dlq", Rejection.getClassSchema(),
      "sft.adapter-checkpoints", CheckpointRecord.getClassSchema());

  @Option(names = "--work-dir", description = "Where the broker and registry keep their files"
      + " and logs (default: ${DEFAULT-VALUE}).", defaultValue = "target/local-run")
  Path workDir;

  @Option(names = "--keep-running", description = "Keep the broker and registry up until Ctrl-C.")
  boolean keepRunning;

  public static void main(String[] args) {
    System.exit(new CommandLine(new LocalStackMain()).execute(args));
  }

  @Override
  public Integer call() throws Exception {
    Path run = workDir.resolve(String.valueOf(Instant.now().toEpochMilli())).toAbsolutePath();
    say("Starting a real Apache Kafka broker (KRaft, child JVM) ...");
    try (KafkaBroker broker = KafkaBroker.start(run.resolve("kafka"))) {
      say("  ready at %s in %.1f s (logs: %s)", broker.bootstrapServers(),
          broker.lastStartup().toMillis() / 1000.0, run.resolve("kafka/broker.log"));
      say("Starting the schema registry (Apicurio, Confluent-compatible API) ...");
      try (SchemaRegistryServer registry = SchemaRegistryServer.start(run.resolve("registry"))) {
        say("  ready at %s in %.1f s", registry.url(), registry.lastStartup().toMillis() / 1000.0);
        prepare(broker, registry);
        say("");
        say("Not built yet, so not run: the streams app (render, tokenize, label) and the trainer"
            + " (LoRA steps, checkpoints). Nothing is trained by this command yet.");
        if (keepRunning) {
          say("Broker %s and registry %s keep running; Ctrl-C stops both.",
              broker.bootstrapServers(), registry.url());
          CountDownLatch forever = new CountDownLatch(1);
          Runtime.getRuntime().addShutdownHook(new Thread(forever::countDown));
          forever.await();
        }
        say("Stopping the registry and the broker.");
      }
    }
    return 0;
  }

  private static void prepare(KafkaBroker broker, SchemaRegistryServer registry) {
    try (Admin admin = Admin.create(
        Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers()))) {
      Topics.createAndAwait(admin,
          TOPICS.keySet().stream().sorted().map(t -> Topics.topic(t, 1)).toList(),
          Duration.ofSeconds(60));
    }
    say("Created topics: %s", String.join(", ", TOPICS.keySet().stream().sorted().toList()));

    try (SchemaRegistryClient client =
        new SchemaRegistryClient(SchemaRegistryConfig.forUrl(registry.url(), true))) {
      TOPICS.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> {
        int id = client.register(e.getKey() + "-value", e.getValue());
        say("  registered %s-value (%s) as schema id %d", e.getKey(), e.getValue().getName(), id);
      });
      roundTrip(broker, client);
    }
  }

  /** One Conversation through the real topic and registry and back. */
  private static void roundTrip(KafkaBroker broker, SchemaRegistryClient client) {
    String topic = "sft.conversations";
    Conversation sent = Conversation.newBuilder()
        .setId("hello-1")
        .setMessages(List.of(
            new Message("user", "Say hello.", null),
            new Message("assistant", "Hello!", null)))
        .setCreatedAt(Instant.ofEpochMilli(System.currentTimeMillis()))
        .build();
    try (AvroSerde<Conversation> serde = AvroSerde.forValues(Conversation.class, client)) {
      try (var producer = new KafkaProducer<>(
          Map.<String, Object>of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers()),
          new StringSerializer(), serde.serializer())) {
        producer.send(new ProducerRecord<>(topic, sent.getId(), sent)).get();
      } catch (Exception e) {
        throw new IllegalStateException("could not produce to " + topic, e);
      }
      try (var consumer = new KafkaConsumer<>(
          Map.<String, Object>of(
              ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers(),
              ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"),
          new StringDeserializer(), serde.deserializer())) {
        TopicPartition partition = new TopicPartition(topic, 0);
        consumer.assign(List.of(partition));
        consumer.seekToBeginning(List.of(partition));
        Instant deadline = Instant.now().plusSeconds(30);
        while (Instant.now().isBefore(deadline)) {
          for (ConsumerRecord<String, Conversation> r : consumer.poll(Duration.ofMillis(200))) {
            if (!r.value().equals(sent)) {
              throw new IllegalStateException("read back " + r.value() + ", sent " + sent);
            }
            say("Round trip: Conversation '%s' written to %s and read back through the registry.",
                sent.getId(), topic);
            return;
          }
        }
        throw new IllegalStateException("the round-trip record did not come back within 30 s");
      }
    }
  }

  private static void say(String format, Object... args) {
    System.out.println(args.length == 0 ? format : String.format(format, args));
  }
}
