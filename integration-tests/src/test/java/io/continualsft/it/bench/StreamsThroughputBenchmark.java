package io.continualsft.it.bench;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Feedback;
import io.continualsft.chat.TestModels;
import io.continualsft.chat.bench.ConversationMix;
import io.continualsft.chat.bench.LabelingBenchmark;
import io.continualsft.chat.format.ChatModel;
import io.continualsft.local.KafkaBroker;
import io.continualsft.local.SchemaRegistryServer;
import io.continualsft.local.Topics;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.streams.StreamsApp;
import io.continualsft.chat.labels.LabelingKeys;
import io.continualsft.streams.config.StreamsAppConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Not a test: conversations/s end to end through the topology on the real broker and registry
 * (a backlog of N conversations processed with exactly_once_v2, until the last example is
 * visible to a read_committed consumer), against the in-process labeler on the same mix in the
 * same run.
 *
 * <pre>./mvnw -q -pl integration-tests -am install -DskipTests
 * ./mvnw -q -pl integration-tests exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=io.continualsft.it.bench.StreamsThroughputBenchmark \
 *     [-Dexec.args="CONVERSATIONS PARTITIONS THREADS MODES", default "3000 1 1 always"]</pre>
 *
 * MODES: train.when values, comma-separated, each run in turn on topics of its own in the same
 * broker (always,not-rated-bad measures what the feedback join costs).
 */
public final class StreamsThroughputBenchmark {
  public static void main(String[] args) throws Exception {
    int count = args.length > 0 ? Integer.parseInt(args[0]) : 3000;
    int partitions = args.length > 1 ? Integer.parseInt(args[1]) : 1;
    int threads = args.length > 2 ? Integer.parseInt(args[2]) : 1;
    List<String> modes = List.of((args.length > 3 ? args[3] : "always").split(","));
    System.setProperty("ai.djl.offline", "true");
    Path work = Files.createTempDirectory("streams-bench");
    List<Conversation> mix = ConversationMix.generate(count, 7);

    double inProcess;
    try (ChatModel model = TestModels.qwen3()) {
      inProcess = LabelingBenchmark.run(model, mix, 3).labelPerSec();
    }
    try (KafkaBroker broker = KafkaBroker.start(work.resolve("kafka"));
        SchemaRegistryServer registry = SchemaRegistryServer.start(work.resolve("registry"))) {
      for (String mode : modes) {
        run(broker, registry, work, mix, mode, partitions, threads, inProcess);
      }
    }
  }

  /**
   * One run of the app on {@code mix} with {@code train.when=mode}, on topics of its own. With a
   * feedback policy every assistant turn is rated up before its conversation is sent, so each
   * conversation is released as it arrives and the examples are those of {@code always}: what is
   * measured is the join's own cost (its two stores, the feedback records, the preference
   * examples).
   */
  private static void run(KafkaBroker broker, SchemaRegistryServer registry, Path work,
      List<Conversation> mix, String mode, int partitions, int threads, double inProcess)
      throws Exception {
    int count = mix.size();
    String in = mode + "-in";
    String out = mode + "-out";
    boolean joins = !mode.equals("always");
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG,
        broker.bootstrapServers()))) {
      Topics.createAndAwait(admin, List.of(Topics.topic(in, partitions),
          Topics.topic(out, partitions), Topics.topic(mode + "-dlq", 1),
          Topics.topic(mode + "-feedback", partitions),
          Topics.topic(mode + "-preferences", partitions)), Duration.ofSeconds(60));
    }
    long ratings = 0;
    try (SchemaRegistryClient client =
            new SchemaRegistryClient(SchemaRegistryConfig.forUrl(registry.url(), true));
        var producer = new KafkaProducer<>(Map.<String, Object>of(
            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers(),
            ProducerConfig.LINGER_MS_CONFIG, 20),
            new StringSerializer(), new AvroSerializer<org.apache.avro.specific.SpecificRecord>(
                client, false))) {
      if (joins) {
        for (Conversation c : mix) {
          for (int t = 0; t < c.getMessages().size(); t++) {
            if ("assistant".equals(c.getMessages().get(t).getRole())) {
              producer.send(new ProducerRecord<>(mode + "-feedback", c.getId(),
                  Feedback.newBuilder().setConversationId(c.getId()).setTurn(t)
                      .setRating("up").setCreatedAt(c.getCreatedAt()).build()));
              ratings++;
            }
          }
        }
      }
      for (Conversation c : mix) {
        producer.send(new ProducerRecord<>(in, c.getId(), c));
      }
      producer.flush();
    }
    Map<String, String> config = new HashMap<>();
    config.put(StreamsAppConfig.BOOTSTRAP_SERVERS, broker.bootstrapServers());
    config.put("schema.registry.url", registry.url());
    config.put("auto.register.schemas", "true");
    config.put(StreamsAppConfig.APPLICATION_ID, "bench-" + mode);
    config.put(StreamsAppConfig.TOPIC_CONVERSATIONS, in);
    config.put(StreamsAppConfig.TOPIC_EXAMPLES, out);
    config.put(StreamsAppConfig.TOPIC_DEAD_LETTERS, mode + "-dlq");
    config.put(StreamsAppConfig.TOPIC_FEEDBACK, mode + "-feedback");
    config.put(StreamsAppConfig.TOPIC_PREFERENCE_EXAMPLES, mode + "-preferences");
    config.put(StreamsAppConfig.TRAIN_WHEN, mode);
    config.put(StreamsAppConfig.MODEL_DIR, TestModels.qwen3Dir().toString());
    config.put(LabelingKeys.MAX_LENGTH, "32768");
    config.put(StreamsAppConfig.METRICS_PORT, "0");
    config.put("state.dir", work.resolve("state-" + mode).toString());
    config.put("num.stream.threads", String.valueOf(threads));

    long started = System.nanoTime();
    try (StreamsApp app = StreamsApp.start(StreamsAppConfig.of(config));
        var consumer = new KafkaConsumer<>(Map.<String, Object>of(
            ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers(),
            ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"),
            new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> outputs = java.util.stream.IntStream.range(0, partitions)
          .mapToObj(p -> new TopicPartition(out, p)).toList();
      consumer.assign(outputs);
      long seen = 0;
      long firstAt = 0;
      long firstBatch = 0;
      while (seen < count) {
        int n = consumer.poll(Duration.ofMillis(100)).count();
        if (n > 0 && firstAt == 0) {
          firstAt = System.nanoTime();
          firstBatch = n;
        }
        seen += n;
      }
      long done = System.nanoTime();
      double seconds = (done - started) / 1e9;
      double endToEnd = count / seconds;
      double steady = (count - firstBatch) / ((done - firstAt) / 1e9);
      System.out.printf("train.when=%s: %d conversations%s (%d partition(s), %d stream"
          + " thread(s), exactly_once_v2)%n"
          + "end to end through the topology: %,.0f conversations/s (%.1f s, app start included)%n"
          + "steady state (first committed batch to last): %,.0f conversations/s%n"
          + "in-process labeler, same mix, same run: %,.0f conversations/s%n"
          + "ratio steady state / in-process: %.2f%n", mode, count,
          joins ? " and " + ratings + " ratings" : "", partitions, threads, endToEnd, seconds,
          steady, inProcess, steady / inProcess);
    }
  }
}
