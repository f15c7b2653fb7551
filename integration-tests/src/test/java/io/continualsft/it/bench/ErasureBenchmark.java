package io.continualsft.it.bench;

import io.continualsft.avro.CheckpointManifest;
import io.continualsft.avro.ErasureRequest;
import io.continualsft.avro.SftExample;
import io.continualsft.it.support.TestConfigs;
import io.continualsft.it.trainer.TrainerFixtures;
import io.continualsft.local.ChildProcess;
import io.continualsft.local.JavaRuntime;
import io.continualsft.local.KafkaBroker;
import io.continualsft.local.SchemaRegistryServer;
import io.continualsft.local.Topics;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.trainer.checkpoint.CheckpointReader;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.service.ExampleAdmission;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Not a test. What an erasure costs against retraining from scratch: a trainer (a child JVM, the
 * tiny Qwen3 model of the integration tests, 4 new examples a step, replay ρ = 0.25) trains a
 * history of about 2,000 steps; then one conversation late, one in the middle and one early in
 * it is erased, one request at a time; then ten at once (one transaction, one rewind). For each:
 * the wall time from the request to the adapter trained through the whole log again, and the
 * steps retrained; for two checkpoint cadences.
 *
 * <pre>java -cp integration-tests/target/test-classes:integration-tests/target/classes:$(cat cp.txt) \
 *     io.continualsft.it.bench.ErasureBenchmark [CONVERSATIONS] [CADENCE,...]</pre>
 */
public final class ErasureBenchmark {
  static final double EVAL = 0.02;
  static final int STEP_EXAMPLES = 4;

  public static void main(String[] args) throws Exception {
    int conversations = args.length > 0 ? Integer.parseInt(args[0]) : 8200;
    List<Integer> cadences = args.length > 1 ? java.util.Arrays.stream(args[1].split(","))
        .map(Integer::parseInt).toList() : List.of(50, 200);
    Path work = Files.createTempDirectory("erasure-bench");
    Path model = TrainerFixtures.tinyModel(Files.createDirectories(work.resolve("model")));
    List<SftExample> examples = new ArrayList<>(TrainerFixtures.examples(model,
        TrainerFixtures.conversations(conversations, "bench"), "x"));
    for (int i = 0; i < examples.size(); i++) {
      examples.get(i).setSubject("person-" + i); // one conversation each
    }
    List<Integer> trainable = new ArrayList<>();
    for (int i = 0; i < examples.size(); i++) {
      if (!ExampleAdmission.heldOut(examples.get(i).getConversationId(), EVAL)) {
        trainable.add(i);
      }
    }
    System.out.printf("%d conversations, %d trained (%d steps of %d new + replay); %d cores%n",
        examples.size(), trainable.size(), trainable.size() / STEP_EXAMPLES, STEP_EXAMPLES,
        Runtime.getRuntime().availableProcessors());
    List<String> lines = new ArrayList<>();
    try (KafkaBroker broker = KafkaBroker.start(work.resolve("kafka"));
        SchemaRegistryServer registry = SchemaRegistryServer.start(work.resolve("registry"));
        Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG,
            broker.bootstrapServers()));
        SchemaRegistryClient client =
            new SchemaRegistryClient(SchemaRegistryConfig.forUrl(registry.url(), true))) {
      for (int cadence : cadences) {
        String n = "c" + cadence;
        Topics.createAndAwait(admin, List.of(Topics.topic("ex-" + n, 1),
            Topics.topic("dlq-" + n, 1), Topics.topic("ckpt-" + n, 1),
            Topics.topic("rel-" + n, 1).configs(Map.of("cleanup.policy", "compact")),
            Topics.topic("erase-" + n, 1).configs(Map.of("cleanup.policy", "compact"))),
            Duration.ofSeconds(60));
        try (var producer = new KafkaProducer<>(Map.<String, Object>of(
            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers(),
            ProducerConfig.LINGER_MS_CONFIG, 20), new StringSerializer(),
            new AvroSerializer<SftExample>(client, false))) {
          for (SftExample e : examples) {
            producer.send(new ProducerRecord<>("ex-" + n, 0, e.getConversationId(), e));
          }
          producer.flush();
        }
        Path config = TestConfigs.write(work.resolve(n + ".properties"),
            TrainerConfig.toProperties(io.continualsft.trainer.config.TrainerSettings.builder()
                .set(TrainerConfig.PRECISION, "fp32")
                .set(TrainerConfig.BOOTSTRAP_SERVERS, broker.bootstrapServers())
                .set(TrainerConfig.REGISTRY_URL, registry.url())
                .set(TrainerConfig.AUTO_REGISTER_SCHEMAS, "true")
                .set(TrainerConfig.GROUP_ID, "bench-" + n)
                .set(TrainerConfig.TRANSACTIONAL_ID, "bench-" + n)
                .set(TrainerConfig.TOPIC_EXAMPLES, "ex-" + n)
                .set(TrainerConfig.TOPIC_DEAD_LETTERS, "dlq-" + n)
                .set(TrainerConfig.TOPIC_CHECKPOINTS, "ckpt-" + n)
                .set(TrainerConfig.TOPIC_RELEASES, "rel-" + n)
                .set(TrainerConfig.ERASURE_TOPIC, "erase-" + n)
                .set(TrainerConfig.ERASURE_BATCH_WINDOW, 0)
                .set(TrainerConfig.MODEL_DIR, model)
                .set(TrainerConfig.LORA_R, 8).set(TrainerConfig.LORA_ALPHA, 16)
                .set(TrainerConfig.LORA_TARGET_MODULES, List.of("all-linear"))
                .set(TrainerConfig.MAX_LENGTH, 256).set(TrainerConfig.TOKEN_BUDGET, 512)
                .set(TrainerConfig.STEP_TOKENS, 1_000_000)
                .set(TrainerConfig.STEP_EXAMPLES, STEP_EXAMPLES)
                .set(TrainerConfig.LEARNING_RATE, 0.01).set(TrainerConfig.EVAL_FRACTION, EVAL)
                .set(TrainerConfig.REPLAY_FRACTION, 0.25)
                .set(TrainerConfig.CHECKPOINT_EVERY_STEPS, cadence)
                .set(TrainerConfig.CHECKPOINT_EVERY_SECONDS, 86_400)
                .set(TrainerConfig.PROGRESS_EVERY_STEPS, 100)
                .set(TrainerConfig.METRICS_PORT, 0)
                .build()));
        ChildProcess trainer = ChildProcess.start("trainer-" + n, List.of(
            JavaRuntime.javaExecutable(), "--enable-native-access=ALL-UNNAMED", "-Xmx1g",
            "-Dai.djl.pytorch.num_threads=1", "-Dai.djl.offline=true",
            "-cp", JavaRuntime.expandedClassPath(),
            "io.continualsft.trainer.cli.TrainerCli", "run", "--config", config.toString()),
            work, work.resolve(n + ".log"), Map.of("MKL_CBWR", "AUTO"));
        try (CheckpointReader reader = CheckpointReader.open(broker.bootstrapServers(),
            SchemaRegistryConfig.forUrl(registry.url(), false), "ckpt-" + n, Map.of());
            var requests = new KafkaProducer<>(Map.<String, Object>of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers(),
                ProducerConfig.TRANSACTIONAL_ID_CONFIG, "forget-" + n), new StringSerializer(),
                new AvroSerializer<ErasureRequest>(client, false))) {
          requests.initTransactions();
          long started = System.nanoTime();
          long expected = trainable.size();
          CheckpointManifest scratch = await(reader, expected, -1, trainer);
          double scratchSeconds = (System.nanoTime() - started) / 1e9;
          long steps = scratch.getStep();
          String head = String.format("cadence %d steps: from scratch %d steps in %.1f s"
              + " (%.1f steps/s)", cadence, steps, scratchSeconds, steps / scratchSeconds);
          System.out.println(head);
          lines.add(head);
          int erased = 0;
          long through = 0;
          record Case(String name, List<Double> at) {}
          List<Case> cases = List.of(new Case("late (95 %)", List.of(0.95)),
              new Case("middle (50 %)", List.of(0.5)), new Case("early (5 %)", List.of(0.05)),
              new Case("ten at once (8 %..89 %)", List.of(0.08, 0.17, 0.26, 0.35, 0.44, 0.53,
                  0.62, 0.71, 0.80, 0.89)));
          for (Case c : cases) {
            long before = System.nanoTime();
            requests.beginTransaction();
            for (double at : c.at()) {
              // The next trainable conversation at that share of the history not yet erased.
              int index = trainable.get((int) (at * trainable.size()) + erased % 3);
              String subject = examples.get(index).getSubject();
              requests.send(new ProducerRecord<>("erase-" + n, "subject:" + subject,
                  ErasureRequest.newBuilder().setId("bench-" + n + "-" + erased)
                      .setSubject(subject).setRequestedBy("benchmark")
                      .setRequestedAt(Instant.now()).build()));
              erased++;
            }
            requests.commitTransaction();
            CheckpointManifest done = await(reader, expected - erased, through, trainer);
            through = done.getErasuresThrough();
            double seconds = (System.nanoTime() - before) / 1e9;
            SortedMap<Long, CheckpointManifest> manifests = reader.manifests("default",
                Integer.MAX_VALUE);
            CheckpointManifest rewind = manifests.values().stream()
                .filter(m -> !m.getRevokes().isEmpty()).reduce((a, b) -> b).orElseThrow();
            long retrained = done.getStep() - rewind.getStep();
            String line = String.format("cadence %d, %-24s %5d steps retrained (%5.1f %% of"
                + " scratch) in %6.1f s (%5.1f %% of scratch's time); %d versions revoked",
                cadence, c.name() + ":", retrained, 100.0 * retrained / steps, seconds,
                100 * seconds / scratchSeconds, rewind.getRevokes().size());
            System.out.println(line);
            lines.add(line);
          }
        } finally {
          trainer.stop(Duration.ofSeconds(30));
        }
      }
    }
    System.out.println("\nsummary:");
    lines.forEach(System.out::println);
  }

  /**
   * The newest manifest once the adapter has trained {@code examples}, with requests read past
   * position {@code through} (-1: none).
   */
  private static CheckpointManifest await(CheckpointReader reader, long examples, long through,
      ChildProcess trainer) throws Exception {
    Instant deadline = Instant.now().plusSeconds(3600);
    while (Instant.now().isBefore(deadline)) {
      if (!trainer.isAlive()) {
        throw new IllegalStateException("the trainer exited: " + trainer.logTail(40));
      }
      var newest = reader.newest("default");
      if (newest.isPresent()) {
        CheckpointManifest m = newest.get().manifest();
        long trained = m.getExamplesTrained() + m.getMetrics()
            .getOrDefault("examples_in_skipped_steps", 0.0).longValue();
        if (trained == examples && (through < 0 ? m.getErasuresThrough() == 0
            : m.getErasuresThrough() > through)) {
          return m;
        }
      }
      Thread.sleep(1000);
    }
    throw new IllegalStateException("not done within an hour");
  }
}
