package io.continualsft.it.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.it.support.TestCertificates;
import io.continualsft.it.support.TestConfigs;
import io.continualsft.it.support.TestDirs;
import io.continualsft.it.trainer.TrainerFixtures;
import io.continualsft.local.KafkaBroker;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.streams.StreamsApp;
import io.continualsft.streams.cli.StreamsAppCli;
import io.continualsft.streams.config.StreamsAppConfig;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointCodec;
import io.continualsft.trainer.checkpoint.CheckpointReader;
import io.continualsft.trainer.cli.TrainerCli;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.service.ExampleAdmission;
import io.continualsft.trainer.service.TrainerService;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.junit.jupiter.api.Test;

/**
 * The whole pipeline on a secured listener: a broker with SASL_SSL (SCRAM-SHA-512) under a CA
 * and certificate this test makes; the streams app, the trainer, {@code produce} and {@code
 * pull} each log in as their own principal and trust only that CA. Only the test's own topic
 * creation and checks use the broker's PLAINTEXT listener. A wrong password is refused.
 */
@RealServices
class SecuredPipelineIT {
  private static final int CONVERSATIONS = 40;

  private static Map<String, String> client(TestCertificates tls, String user, String password) {
    Map<String, String> c = new LinkedHashMap<>();
    c.put("security.protocol", "SASL_SSL");
    c.put("sasl.mechanism", "SCRAM-SHA-512");
    c.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required"
        + " username=\"" + user + "\" password=\"" + password + "\";");
    c.put("ssl.truststore.location", tls.truststore().toString());
    c.put("ssl.truststore.password", tls.password());
    c.put("ssl.truststore.type", "PKCS12");
    return c;
  }

  @Test
  void everyComponentRunsOverSaslSsl(KafkaCluster unused, SchemaRegistry registry)
      throws Exception {
    Path work = Files.createDirectories(TestDirs.fresh("secured"));
    TestCertificates tls = TestCertificates.create(work.resolve("tls"));
    Map<String, String> users = Map.of("producer", "p-secret", "sft-streams", "s-secret",
        "sft-trainer", "t-secret", "sft-serving", "v-secret");
    try (KafkaBroker broker = KafkaBroker.start(work.resolve("broker"),
        new KafkaBroker.SaslSsl(tls.serverKeystore(), tls.password(), users))) {
      String secure = broker.saslSslBootstrapServers();
      try (Admin admin = Admin.create(Map.<String, Object>of("bootstrap.servers",
          broker.bootstrapServers()))) {
        admin.createTopics(List.of("conversations", "examples", "conversations-dlq",
            "examples-dlq", "checkpoints").stream().map(t -> new NewTopic(t, 1, (short) 1))
            .toList()).all().get();
        admin.createTopics(List.of(new NewTopic("releases", 1, (short) 1)
            .configs(Map.of("cleanup.policy", "compact")))).all().get();
      }
      Path model = TrainerFixtures.tinyModel(Files.createDirectories(work.resolve("model")));

      // produce, as the producer principal, from a client properties file.
      Path input = work.resolve("in.jsonl");
      List<String> lines = new ArrayList<>();
      for (int i = 0; i < CONVERSATIONS; i++) {
        lines.add("{\"id\": \"s" + i + "\", \"messages\": [{\"role\": \"user\", \"content\":"
            + " \"Please note item " + i + ".\"}, {\"role\": \"assistant\", \"content\":"
            + " \"OK, noted.\"}]}");
      }
      Files.write(input, lines, StandardCharsets.UTF_8);
      Map<String, String> producer = new HashMap<>(client(tls, "producer", "p-secret"));
      producer.put(SchemaRegistryConfig.URL, registry.url());
      Path producerConfig = TestConfigs.write(work.resolve("producer.properties"), producer);
      assertThat(StreamsAppCli.commandLine().execute("produce", "--bootstrap", secure,
          "--client-config", producerConfig.toString(), "--topic", "conversations",
          "--input", input.toString())).isZero();

      // A wrong password is refused: nothing is sent.
      Path wrong = TestConfigs.write(work.resolve("wrong.properties"),
          new HashMap<>(Map.of(SchemaRegistryConfig.URL, registry.url())) {{
            putAll(client(tls, "producer", "not-the-password"));
          }});
      assertThat(StreamsAppCli.commandLine().execute("produce", "--bootstrap", secure,
          "--client-config", wrong.toString(), "--topic", "conversations",
          "--input", input.toString())).isNotZero();

      // The streams app and the trainer, each as itself.
      Map<String, String> streamsConfig = TestConfigs.streamsApp(unused, registry,
          "secured-streams", "conversations", "examples", "conversations-dlq", model,
          work.resolve("streams-state"));
      streamsConfig.put("bootstrap.servers", secure);
      streamsConfig.putAll(client(tls, "sft-streams", "s-secret"));
      TrainerSettings.Builder trainer = TrainerFixtures.settings(unused, registry.url(), model,
          "examples", "examples-dlq", "checkpoints", "default", "secured-trainer")
          .set(TrainerConfig.BOOTSTRAP_SERVERS, secure).set(TrainerConfig.TOPIC_RELEASES, "releases");
      client(tls, "sft-trainer", "t-secret").forEach(trainer::set);
      TrainerSettings trainerSettings = trainer.build();

      AtomicBoolean stop = new AtomicBoolean();
      try (StreamsApp streams = StreamsApp.start(StreamsAppConfig.of(streamsConfig));
          TrainerService service = TrainerService.create(trainerSettings)) {
        CompletableFuture<Void> training = CompletableFuture.runAsync(() -> service.run(stop::get),
            runnable -> new Thread(runnable, "secured-trainer").start());
        long trainable = 0;
        for (int i = 0; i < CONVERSATIONS; i++) {
          if (!ExampleAdmission.heldOut("s" + i, TrainerFixtures.EVAL_FRACTION)) {
            trainable++;
          }
        }
        Checkpoint last = awaitCheckpointThrough(broker, registry, trainable, training);
        stop.set(true);
        training.get();
        assertThat(last.manifest().getExamplesTrained()
            + last.manifest().getMetrics().get("examples_in_skipped_steps").longValue())
            .as("every trainable example trained once").isEqualTo(trainable);
        assertThat(streams.meterRegistry().get("sft.conversations.accepted").counter().count())
            .isEqualTo(CONVERSATIONS);

        // pull, as the serving principal.
        Map<String, String> serving = new HashMap<>(client(tls, "sft-serving", "v-secret"));
        serving.put(SchemaRegistryConfig.URL, registry.url());
        Path servingConfig = TestConfigs.write(work.resolve("serving.properties"), serving);
        Path out = work.resolve("pulled");
        assertThat(TrainerCli.commandLine().execute("pull", "--bootstrap", secure,
            "--client-config", servingConfig.toString(), "--topic", "checkpoints",
            "--releases-topic", "releases", "--out", out.toString())).isZero();
        assertThat(CheckpointCodec.sha256(Files.readAllBytes(out.resolve(
            Checkpoint.ADAPTER_WEIGHTS))))
            .isEqualTo(CheckpointCodec.sha256(last.files().get(Checkpoint.ADAPTER_WEIGHTS)));
      }
    }
  }

  /** Waits for a checkpoint that accounts for {@code trainable} examples; read over PLAINTEXT. */
  private static Checkpoint awaitCheckpointThrough(KafkaBroker broker, SchemaRegistry registry,
      long trainable, CompletableFuture<Void> training) throws Exception {
    Instant deadline = Instant.now().plusSeconds(180);
    try (CheckpointReader reader = CheckpointReader.open(broker.bootstrapServers(),
        SchemaRegistryConfig.forUrl(registry.url(), false), "checkpoints", Map.of())) {
      while (Instant.now().isBefore(deadline)) {
        if (training.isDone()) {
          training.get(); // the trainer failed: say why
          throw new AssertionError("the trainer stopped before training everything");
        }
        Optional<Checkpoint> c = reader.newest("default");
        if (c.isPresent() && c.get().manifest().getExamplesTrained() + c.get().manifest()
            .getMetrics().getOrDefault("examples_in_skipped_steps", 0.0).longValue() >= trainable) {
          return c.get();
        }
        Thread.sleep(500);
      }
    }
    throw new AssertionError("no checkpoint of " + trainable + " examples within 180 s");
  }
}
