package io.continualsft.it.bench;

import io.continualsft.avro.SftExample;
import io.continualsft.chat.TestModels;
import io.continualsft.it.support.TestConfigs;
import io.continualsft.local.ChildProcess;
import io.continualsft.local.JavaRuntime;
import io.continualsft.local.KafkaBroker;
import io.continualsft.local.SchemaRegistryServer;
import io.continualsft.local.Topics;
import io.continualsft.schemas.AdapterPartitions;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.model.ModelConfig;
import io.continualsft.trainer.model.ModelFactory;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Not a test. Many adapters on many trainers, on the real broker, trainers as child JVMs of one
 * consumer group ({@code adapter.id=*}), 12 adapters over 6 partitions: (1) aggregate trained
 * tokens/s with 1, 2 and 3 trainers; (2) peak resident memory of one trainer with 1 and with 12
 * adapters resident, against the base model's size and the bytes an adapter holds; (3) the time
 * to restore an evicted adapter from its checkpoint (2 resident of 12).
 *
 * <pre>java -cp integration-tests/target/test-classes:integration-tests/target/classes:$(cat cp.txt) \
 *     io.continualsft.it.bench.ManyTrainersBenchmark</pre>
 */
public final class ManyTrainersBenchmark {
  static final int ADAPTERS = 12;
  static final int PARTITIONS = 6;
  static final int EXAMPLES = 48;

  record Result(double seconds, long tokens, long peakRssKb, double restores,
      double restoreSeconds) {}

  public static void main(String[] args) throws Exception {
    Path work = Files.createTempDirectory("many-trainers-bench");
    Path model = work.resolve("model");
    // The model of the TRL comparison: Qwen3-shaped, hidden 128, 4 layers, the full vocabulary.
    // LoRA r=64 on every linear layer, so that an adapter's footprint shows in the process's
    // resident memory.
    ModelConfig config = new ModelConfig("qwen3", ModelFactory.vocabSize(
        TestModels.qwen3Dir().resolve("tokenizer.json")), 128, 256, 4, 4, 2, 32, 1e-6, 1e6, true,
        false, true, 4096);
    ModelFactory.write(model, config, 3, 1.0, TestModels.qwen3Dir());
    // Realistic conversations (ConversationMix: chat, code, long answers), 4 per adapter.
    List<SftExample> labelled = TrainerThroughputBenchmark.label(model,
        io.continualsft.chat.bench.ConversationMix.generate(EXAMPLES, 11));
    List<SftExample> examples = new ArrayList<>();
    for (int i = 0; i < labelled.size(); i++) {
      examples.add(SftExample.newBuilder(labelled.get(i))
          .setAdapter("tenant-" + (i * 5 % ADAPTERS)).build());
    }
    long modelBytes = Files.size(model.resolve("model.safetensors"));
    long trained = examples.stream().mapToLong(SftExample::getTrainedTokens).sum();
    long tokens = examples.stream().mapToLong(e -> e.getInputIds().size()).sum();
    System.out.printf("model: %,d bytes of weights; %d examples (%,d tokens, %,d trained), %d"
        + " adapters, %d partitions; %d cores%n", modelBytes, examples.size(), tokens, trained,
        ADAPTERS, PARTITIONS, Runtime.getRuntime().availableProcessors());
    try (KafkaBroker broker = KafkaBroker.start(work.resolve("kafka"));
        SchemaRegistryServer registry = SchemaRegistryServer.start(work.resolve("registry"));
        Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG,
            broker.bootstrapServers()));
        SchemaRegistryClient client =
            new SchemaRegistryClient(SchemaRegistryConfig.forUrl(registry.url(), true))) {
      int round = 0;
      List<String> lines = new ArrayList<>();
      // Arguments TRAINERSxTHREADSxRESIDENT (e.g. 1x2x2) run those shapes only.
      List<int[]> shapes = args.length == 0 ? List.of(new int[] {1, 2, 12}, new int[] {1, 1, 12},
          new int[] {2, 1, 12}, new int[] {3, 1, 12}, new int[] {1, 2, 1}, new int[] {1, 2, 2})
          : java.util.Arrays.stream(args).map(a -> java.util.Arrays.stream(a.split("x"))
              .mapToInt(Integer::parseInt).toArray()).toList();
      for (int[] shape : shapes) {
        int trainers = shape[0];
        int threads = shape[1];
        int resident = shape[2];
        String name = "r" + (round++);
        Result r = run(work, broker.bootstrapServers(), registry.url(), admin, client, model,
            examples, name, trainers, threads, resident);
        String line = String.format("%d trainer(s) x %d thread(s), %2d resident: %,d trained"
                + " tokens in %.1f s = %.0f tokens/s; peak RSS %,d KiB (largest trainer);"
                + " %.0f restores, mean %.3f s", trainers, threads, resident, r.tokens(),
            r.seconds(), r.tokens() / r.seconds(), r.peakRssKb(), r.restores(),
            r.restoreSeconds());
        System.out.println(line);
        lines.add(line);
      }
      System.out.println("\nsummary:");
      lines.forEach(System.out::println);
    }
  }

  static Result run(Path work, String bootstrap, String registryUrl, Admin admin,
      SchemaRegistryClient client, Path model, List<SftExample> examples, String name,
      int trainers, int threads, int resident) throws Exception {
    String examplesTopic = "ex-" + name;
    Topics.createAndAwait(admin, List.of(Topics.topic(examplesTopic, PARTITIONS),
        Topics.topic("dlq-" + name, 1), Topics.topic("ckpt-" + name, 3),
        Topics.topic("rel-" + name, 1).configs(Map.of("cleanup.policy", "compact"))),
        Duration.ofSeconds(60));
    try (var producer = new KafkaProducer<>(Map.<String, Object>of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap),
        new StringSerializer(), new AvroSerializer<SftExample>(client, false))) {
      for (SftExample e : examples) {
        producer.send(new ProducerRecord<>(examplesTopic, AdapterPartitions.partitionFor(
            e.getAdapter(), PARTITIONS), e.getConversationId(), e));
      }
      producer.flush();
    }
    List<ChildProcess> children = new ArrayList<>();
    List<Integer> ports = new ArrayList<>();
    long start = System.nanoTime();
    try {
      for (int t = 0; t < trainers; t++) {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
          port = s.getLocalPort();
        }
        ports.add(port);
        TrainerSettings settings = TrainerSettings.builder()
            .set(TrainerConfig.BOOTSTRAP_SERVERS, bootstrap).set(TrainerConfig.REGISTRY_URL, registryUrl).set(TrainerConfig.AUTO_REGISTER_SCHEMAS, "true")
            .set(TrainerConfig.ADAPTER, TrainerSettings.EVERY_ADAPTER).set(TrainerConfig.GROUP_ID, "group-" + name)
            .set(TrainerConfig.TOPIC_EXAMPLES, examplesTopic).set(TrainerConfig.TOPIC_DEAD_LETTERS, "dlq-" + name)
            .set(TrainerConfig.TOPIC_CHECKPOINTS, "ckpt-" + name).set(TrainerConfig.TOPIC_RELEASES, "rel-" + name)
            .set(TrainerConfig.MODEL_DIR, model).set(TrainerConfig.LORA_R, 64).set(TrainerConfig.LORA_ALPHA, 128).set(TrainerConfig.LORA_TARGET_MODULES, List.of("all-linear"))
            .set(TrainerConfig.MAX_LENGTH, 4096).set(TrainerConfig.TOKEN_BUDGET, 4096).set(TrainerConfig.STEP_TOKENS, 512).set(TrainerConfig.EVAL_FRACTION, 0.05)
            .set(TrainerConfig.LEARNING_RATE, 1e-3).set(TrainerConfig.CHECKPOINT_EVERY_STEPS, 5).set(TrainerConfig.MAX_RESIDENT_ADAPTERS, resident)
            .set(TrainerConfig.METRICS_PORT, port).set(TrainerConfig.PROGRESS_EVERY_STEPS, 1_000_000)
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000")
            .build();
        Path file = TestConfigs.write(work.resolve(name + "-" + t + ".properties"),
            TrainerConfig.toProperties(settings));
        children.add(ChildProcess.start("trainer-" + name + "-" + t, List.of(
            JavaRuntime.javaExecutable(), "--enable-native-access=ALL-UNNAMED", "-Xmx1g",
            "-Dai.djl.pytorch.num_threads=" + threads,
            "-Dai.djl.pytorch.num_interop_threads=1", "-Dai.djl.offline=true",
            "-cp", JavaRuntime.expandedClassPath(),
            "io.continualsft.trainer.cli.TrainerCli", "run", "--config", file.toString()),
            work, work.resolve(name + "-" + t + ".log"), Map.of("MKL_CBWR", "AUTO")));
      }
      awaitCommitted(admin, examplesTopic, "group-" + name, children);
      double seconds = (System.nanoTime() - start) / 1e9;
      long tokens = 0;
      long peak = 0;
      double restores = 0;
      double restoreSum = 0;
      for (int t = 0; t < trainers; t++) {
        Map<String, Double> m = scrape(ports.get(t));
        tokens += m.getOrDefault("sft_trainer_tokens_trained_total", 0.0).longValue();
        restores += m.getOrDefault("sft_trainer_adapter_restore_seconds_count", 0.0);
        restoreSum += m.getOrDefault("sft_trainer_adapter_restore_seconds_sum", 0.0);
        peak = Math.max(peak, peakRssKb(children.get(t).pid()));
      }
      return new Result(seconds, tokens, peak, restores, restores == 0 ? 0
          : restoreSum / restores);
    } finally {
      children.forEach(c -> c.stop(Duration.ofSeconds(30)));
    }
  }

  static void awaitCommitted(Admin admin, String topic, String group, List<ChildProcess> children)
      throws Exception {
    Map<TopicPartition, OffsetSpec> latest = new LinkedHashMap<>();
    for (int p = 0; p < PARTITIONS; p++) {
      latest.put(new TopicPartition(topic, p), OffsetSpec.latest());
    }
    Map<TopicPartition, Long> end = new LinkedHashMap<>();
    admin.listOffsets(latest).all().get().forEach((tp, o) -> end.put(tp, o.offset()));
    long deadline = System.nanoTime() + 1_200_000_000_000L;
    while (System.nanoTime() < deadline) {
      for (ChildProcess c : children) {
        if (!c.isAlive()) {
          throw new IllegalStateException(c.name() + " exited:\n" + c.logTail(40));
        }
      }
      Map<TopicPartition, OffsetAndMetadata> committed;
      try {
        committed = admin.listConsumerGroupOffsets(group,
            new ListConsumerGroupOffsetsOptions().requireStable(true))
            .partitionsToOffsetAndMetadata().get();
      } catch (java.util.concurrent.ExecutionException e) {
        Thread.sleep(1000); // the coordinator is busy; ask again
        continue;
      }
      if (end.entrySet().stream().allMatch(e -> committed.get(e.getKey()) != null
          && committed.get(e.getKey()).offset() == e.getValue())) {
        return;
      }
      Thread.sleep(200);
    }
    throw new IllegalStateException("not done within 20 minutes");
  }

  /** The un-labelled samples of /metrics, by name. */
  static Map<String, Double> scrape(int port) throws Exception {
    String body = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
        URI.create("http://127.0.0.1:" + port + "/metrics")).build(),
        HttpResponse.BodyHandlers.ofString()).body();
    Map<String, Double> out = new LinkedHashMap<>();
    for (String line : body.split("\n")) {
      if (!line.startsWith("#") && !line.contains("{")) {
        String[] parts = line.trim().split(" ");
        if (parts.length == 2) {
          out.put(parts[0], Double.parseDouble(parts[1]));
        }
      }
    }
    return out;
  }

  static long peakRssKb(long pid) throws Exception {
    for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
      if (line.startsWith("VmHWM:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    return -1;
  }
}
