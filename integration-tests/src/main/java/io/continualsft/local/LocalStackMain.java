package io.continualsft.local;

import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.Conversation;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.SftExample;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.streams.StreamsApp;
import io.continualsft.streams.cli.StreamsAppCli;
import io.continualsft.streams.config.StreamsAppConfig;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.apache.avro.Schema;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The local default: the real broker and the real registry on loopback, the project's topics and
 * schemas, the streams app on a bundled sample of conversations (or the user's JSONL), and a
 * summary of what came out. The trainer is not built yet, and the run says so.
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

  @Option(names = "--work-dir", description = "Where the services keep their files and logs"
      + " (default: ${DEFAULT-VALUE}).", defaultValue = "target/local-run")
  Path workDir;

  @Option(names = "--model", description = "Hugging Face model directory whose chat template and"
      + " tokenizer label the conversations (default: the bundled Qwen3 tokenizer).",
      defaultValue = "../streams-app/src/test/resources/tokenizers/qwen3")
  Path model;

  @Option(names = "--input", description = "Conversations JSONL to send (default: the bundled"
      + " sample, 56 lines with 5 bad ones and 3 repeats).")
  Path input;

  @Option(names = "--keep-running", description = "Keep everything up until Ctrl-C.")
  boolean keepRunning;

  public static void main(String[] args) {
    System.exit(new CommandLine(new LocalStackMain()).execute(args));
  }

  @Override
  public Integer call() throws Exception {
    if (System.getProperty("ai.djl.offline") == null) {
      System.setProperty("ai.djl.offline", "true");
    }
    Path run = workDir.resolve(String.valueOf(Instant.now().toEpochMilli())).toAbsolutePath();
    Path conversations = input != null ? input : bundledSample(run);
    say("Starting a real Apache Kafka broker (KRaft, child JVM) ...");
    try (KafkaBroker broker = KafkaBroker.start(run.resolve("kafka"))) {
      say("  ready at %s in %.1f s (logs: %s)", broker.bootstrapServers(),
          broker.lastStartup().toMillis() / 1000.0, run.resolve("kafka/broker.log"));
      say("Starting the schema registry (Apicurio, Confluent-compatible API) ...");
      try (SchemaRegistryServer registry = SchemaRegistryServer.start(run.resolve("registry"))) {
        say("  ready at %s in %.1f s", registry.url(), registry.lastStartup().toMillis() / 1000.0);
        prepare(broker, registry);
        runStreams(broker, registry, conversations, run);
        say("");
        say("Not run by this command yet: the trainer (the service exists; starting it here with a"
            + " generated model and pulling its adapter come next). The examples above are waiting"
            + " in sft.examples; nothing is trained by this command yet.");
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
    }
  }

  private void runStreams(KafkaBroker broker, SchemaRegistryServer registry, Path conversations,
      Path run) throws IOException {
    int metricsPort = FreePorts.pick();
    Map<String, String> config = new HashMap<>();
    config.put(StreamsAppConfig.BOOTSTRAP_SERVERS, broker.bootstrapServers());
    config.put(SchemaRegistryConfig.URL, registry.url());
    config.put(StreamsAppConfig.MODEL_DIR, model.toAbsolutePath().normalize().toString());
    config.put(StreamsAppConfig.METRICS_PORT, String.valueOf(metricsPort));
    config.put(StreamsAppConfig.METRICS_HOST, "127.0.0.1");
    config.put("state.dir", run.resolve("streams-state").toString());
    config.put("commit.interval.ms", "200");
    say("Starting the streams app (model %s) ...", config.get(StreamsAppConfig.MODEL_DIR));
    try (StreamsApp app = StreamsApp.start(StreamsAppConfig.of(config))) {
      say("  metrics: http://127.0.0.1:%d/metrics  health: http://127.0.0.1:%d/health",
          metricsPort, metricsPort);
      long lines;
      try (var stream = Files.lines(conversations)) {
        lines = stream.filter(l -> !l.isBlank()).count();
      }
      say("Producing %s ...", conversations);
      int code = StreamsAppCli.commandLine().execute("produce", "--bootstrap",
          broker.bootstrapServers(), "--registry", registry.url(), "--input",
          conversations.toString());
      if (code != 0 && code != 3) {
        throw new IllegalStateException("producing the conversations failed (exit " + code + ")");
      }
      var meters = app.meterRegistry();
      Instant deadline = Instant.now().plusSeconds(120);
      double done = 0;
      while (Instant.now().isBefore(deadline)) {
        double accepted = meters.get("sft.conversations.accepted").counter().count();
        double duplicates = meters.get("sft.conversations.duplicates").counter().count();
        double rejected = meters.get("sft.conversations.rejected").counters().stream()
            .mapToDouble(c -> c.count()).sum();
        if (accepted + duplicates + rejected != done) {
          done = accepted + duplicates + rejected;
          say("  processed %.0f/%d: %.0f examples, %.0f dead letters, %.0f duplicates", done,
              lines, accepted, rejected, duplicates);
        }
        if (done >= lines) {
          break;
        }
        sleep(250);
      }
      summarize(broker, registry, lines, (long) meters.get("sft.conversations.accepted")
          .counter().count(), (long) meters.get("sft.conversations.rejected").counters().stream()
          .mapToDouble(c -> c.count()).sum(), (long) meters.get("sft.conversations.duplicates")
          .counter().count());
    }
  }

  /** What a read_committed consumer finds in the output topics. */
  private static void summarize(KafkaBroker broker, SchemaRegistryServer registry, long sent,
      long accepted, long rejected, long duplicates) {
    try (SchemaRegistryClient client =
        new SchemaRegistryClient(SchemaRegistryConfig.forUrl(registry.url(), false))) {
      List<SftExample> examples = readAll(broker, "sft.examples",
          AvroDeserializer.specific(SftExample.class, client), accepted);
      List<Rejection> dead = readAll(broker, "sft.conversations.dlq",
          AvroDeserializer.specific(Rejection.class, client), rejected);
      Map<String, Integer> byReason = new TreeMap<>();
      dead.forEach(r -> byReason.merge(r.getReason().name(), 1, Integer::sum));
      long tokens = examples.stream().mapToLong(e -> e.getInputIds().size()).sum();
      long trained = examples.stream().mapToLong(SftExample::getTrainedTokens).sum();
      say("");
      say("Summary (read back with read_committed):");
      say("  conversations sent:  %d", sent);
      say("  examples:            %d (%d tokens, %d of them trained)", examples.size(), tokens,
          trained);
      say("  dead letters:        %d %s", dead.size(), byReason);
      say("  duplicates dropped:  %d", duplicates);
      say("  examples + dead letters + duplicates = %d of %d sent", examples.size() + dead.size()
          + duplicates, sent);
    }
  }

  /**
   * Reads {@code topic} from the start until {@code expected} records arrived (the app commits
   * its transaction a moment after processing) or 30 s passed.
   */
  private static <T> List<T> readAll(KafkaBroker broker, String topic, Deserializer<T> values,
      long expected) {
    try (var consumer = new KafkaConsumer<>(Map.<String, Object>of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers(),
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"),
        new ByteArrayDeserializer(), values)) {
      TopicPartition partition = new TopicPartition(topic, 0);
      consumer.assign(List.of(partition));
      consumer.seekToBeginning(List.of(partition));
      List<T> out = new java.util.ArrayList<>();
      Instant deadline = Instant.now().plusSeconds(30);
      while (out.size() < expected && Instant.now().isBefore(deadline)) {
        for (ConsumerRecord<byte[], T> r : consumer.poll(Duration.ofMillis(200))) {
          out.add(r.value());
        }
      }
      return out;
    }
  }

  private static Path bundledSample(Path run) throws IOException {
    Files.createDirectories(run);
    Path target = run.resolve("conversations.jsonl");
    try (InputStream in = LocalStackMain.class.getResourceAsStream("/samples/conversations.jsonl")) {
      Files.copy(in, target);
    }
    return target;
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private static void say(String format, Object... args) {
    System.out.println(args.length == 0 ? format : String.format(format, args));
  }
}
