package io.continualsft.it.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import io.continualsft.avro.CheckpointFile;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.RejectionReason;
import io.continualsft.avro.SftExample;
import io.continualsft.it.support.Clients;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.it.support.TestDirs;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.schemas.serde.WireRecords;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointCodec;
import io.continualsft.trainer.checkpoint.CheckpointLocator;
import io.continualsft.trainer.cli.TrainerCli;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.generate.ChatSession;
import io.continualsft.trainer.lora.PeftAdapter;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.service.ExampleAdmission;
import io.continualsft.trainer.service.TrainerService;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The trainer service on the real broker and registry. */
@RealServices
public class TrainerServiceIT {
  private static Path model;

  @BeforeAll
  static void tinyModel() throws Exception {
    model = TrainerFixtures.tinyModel(Files.createDirectories(TestDirs.fresh("tiny-model")));
  }

  record Topics(String examples, String dlq, String checkpoints) {
    static Topics create(KafkaCluster kafka) {
      String s = UUID.randomUUID().toString().substring(0, 8);
      Topics t = new Topics("examples-" + s, "examples-dlq-" + s, "checkpoints-" + s);
      kafka.createTopics(1, t.examples, t.dlq, t.checkpoints);
      return t;
    }
  }

  public static Optional<Checkpoint> newest(KafkaCluster kafka, SchemaRegistryClient client, String topic,
      String adapter) {
    try (var consumer = new KafkaConsumer<>(Map.<String, Object>of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
        ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 4 * 1_048_576),
        new StringDeserializer(), new io.continualsft.trainer.checkpoint.SkippingDeserializer<>(
            AvroDeserializer.specific(CheckpointRecord.class, client)))) {
      return CheckpointLocator.newest(consumer, topic, adapter, Duration.ofSeconds(30),
          io.continualsft.trainer.checkpoint.CheckpointFiles::parses);
    }
  }

  /** Runs the service on a thread until {@code done} holds for its newest checkpoint. */
  static TrainerService runUntil(TrainerSettings config, KafkaCluster kafka,
      SchemaRegistryClient client, String checkpoints, String adapter,
      java.util.function.Predicate<Checkpoint> done) throws Exception {
    TrainerService service = TrainerService.create(config);
    AtomicBoolean stop = new AtomicBoolean();
    CompletableFuture<Void> running = CompletableFuture.runAsync(() -> service.run(stop::get));
    Instant deadline = Instant.now().plusSeconds(180);
    try {
      while (Instant.now().isBefore(deadline) && !running.isDone()) {
        Optional<Checkpoint> c = newest(kafka, client, checkpoints, adapter);
        if (c.isPresent() && done.test(c.get())) {
          break;
        }
        Thread.sleep(500);
      }
    } finally {
      stop.set(true);
      running.get();
    }
    return service;
  }

  @Test
  void trainsPublishesCheckpointsAndPullWritesAnAdapterThatLoadsBack(KafkaCluster kafka,
      SchemaRegistry registry) throws Exception {
    Topics t = Topics.create(kafka);
    var conversations = TrainerFixtures.conversations(210, "learn");
    List<SftExample> examples = new ArrayList<>(TrainerFixtures.examples(model, conversations, t.examples));
    SftExample foreign = SftExample.newBuilder(examples.get(0)).setConversationId("foreign")
        .setTokenizerFingerprint("0".repeat(64)).build();
    SftExample otherAdapter = SftExample.newBuilder(examples.get(1)).setConversationId("other")
        .setAdapter("someone-else").build();
    List<SftExample> all = new ArrayList<>(examples);
    all.add(20, foreign);
    all.add(40, otherAdapter);
    long heldOut = examples.stream()
        .filter(e -> ExampleAdmission.heldOut(e.getConversationId(), TrainerFixtures.EVAL_FRACTION)).count();
    assertThat(heldOut).as("the eval slice is not empty").isPositive();

    try (SchemaRegistryClient client = registry.client(true)) {
      TrainerFixtures.produce(kafka, client, t.examples, all);
      // A hostile record on the trainer's input: an SftExample whose input_ids claim 2^31 items.
      byte[] hostile = WireRecords.of(WireRecords.schemaId(
          new AvroSerializer<SftExample>(client, false).serialize(t.examples, examples.get(0))),
          e -> {
            e.writeString(examples.get(0).getConversationId());
            e.writeString(examples.get(0).getAdapter());
            e.writeLong(1L << 31); // the input_ids count
          });
      try (var raw = new org.apache.kafka.clients.producer.KafkaProducer<byte[], byte[]>(
          Map.<String, Object>of("bootstrap.servers", kafka.bootstrapServers()),
          new org.apache.kafka.common.serialization.ByteArraySerializer(),
          new org.apache.kafka.common.serialization.ByteArraySerializer())) {
        raw.send(new org.apache.kafka.clients.producer.ProducerRecord<>(t.examples,
            "hostile".getBytes(java.nio.charset.StandardCharsets.UTF_8), hostile)).get();
      }
      int records = all.size() + 1;
      TrainerSettings config = TrainerFixtures.settings(kafka, registry.url(), model,
          t.examples, t.dlq, t.checkpoints, "default", "it-train-" + t.examples)
          .set(TrainerConfig.LEARNING_RATE, 0.05)
          .set(TrainerConfig.CHECKPOINT_EVERY_STEPS, 5)
          .set(TrainerConfig.METRICS_PORT, io.continualsft.local.FreePorts.pick())
          .set(TrainerConfig.METRICS_HOST, "127.0.0.1")
          .build();
      long trainable = examples.size() - heldOut;
      TrainerService service = runUntil(config, kafka, client, t.checkpoints, "default",
          c -> c.manifest().getSourceOffsets().get(0).getOffset() == records);
      String scrape;
      try (var http = java.net.http.HttpClient.newHttpClient()) {
        scrape = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(
            "http://127.0.0.1:" + service.metricsPort() + "/metrics")).build(),
            java.net.http.HttpResponse.BodyHandlers.ofString()).body();
      }
      service.close();
      assertThat(scrape).contains("sft_trainer_tokens_trained_total", "sft_trainer_loss",
          "sft_trainer_eval_loss", "sft_trainer_grad_norm", "sft_trainer_learning_rate",
          "sft_trainer_token_utilisation", "sft_trainer_tokens_per_second",
          "sft_trainer_step_seconds", "sft_trainer_checkpoint_publish_seconds",
          "sft_trainer_checkpoint_bytes", "sft_trainer_examples_skipped_total{reason=\"OTHER_ADAPTER\"} 1.0",
          "kafka_consumer_fetch_manager_records_lag", "jvm_memory_used_bytes");

      List<Checkpoint> versions = new ArrayList<>();
      Checkpoint last = newest(kafka, client, t.checkpoints, "default").orElseThrow();
      // Every trainable example trained once, or counted in a skipped (non-finite) step.
      assertThat(last.manifest().getExamplesTrained()
          + last.manifest().getMetrics().get("examples_in_skipped_steps").longValue())
          .isEqualTo(trainable);
      assertThat(last.version()).isGreaterThanOrEqualTo(2);
      assertThat(last.manifest().getSourceOffsets()).hasSize(1);
      assertThat(last.manifest().getSourceOffsets().get(0).getOffset()).isEqualTo(records);
      assertThat(last.manifest().getLora().getTargetModules()).hasSize(7);
      for (CheckpointFile f : last.manifest().getFiles()) {
        assertThat(CheckpointCodec.sha256(last.files().get(f.getName()))).isEqualTo(f.getSha256());
      }

      // The foreign-tokenizer example and the hostile record are dead letters; the other
      // adapter's is skipped.
      List<Rejection> dead = Clients.consume(kafka, t.dlq, AvroDeserializer.specific(
          Rejection.class, client), 2, Duration.ofSeconds(10)).stream().map(r -> r.value()).toList();
      assertThat(dead).extracting(Rejection::getReason)
          .containsExactly(RejectionReason.TOKENIZER_MISMATCH, RejectionReason.CORRUPT_AVRO);
      assertThat(dead.get(1).getDetail()).contains("declares 2147483648 items");

      // The task is learnable: the eval loss fell well below that of the first checkpoint.
      double first = firstEvalLoss(kafka, client, t.checkpoints);
      double evalLoss = last.manifest().getMetrics().get("eval_loss");
      System.out.printf("eval loss: first checkpoint %.4f, last %.4f%n", first, evalLoss);
      assertThat(evalLoss).isLessThan(first * 0.7);

      // pull writes the PEFT files, checksums matching, and they load back to the same eval loss.
      Path out = TestDirs.fresh("pulled");
      assertThat(TrainerCli.commandLine().execute("pull", "--bootstrap", kafka.bootstrapServers(),
          "--registry", registry.url(), "--adapter", "default", "--topic", t.checkpoints,
          "--candidates", "--out", out.toString())).isZero();
      for (CheckpointFile f : last.manifest().getFiles()) {
        if (f.getName().startsWith("adapter_")) {
          assertThat(CheckpointCodec.sha256(Files.readAllBytes(out.resolve(f.getName()))))
              .isEqualTo(f.getSha256());
        }
      }
      assertThat(out.resolve("optimizer.safetensors")).doesNotExist();
      List<Batch.Example> evalSet = new ArrayList<>();
      for (SftExample e : examples) {
        if (ExampleAdmission.heldOut(e.getConversationId(), TrainerFixtures.EVAL_FRACTION)) {
          evalSet.add(Batch.Example.of(e.getInputIds(), e.getLabels()));
        }
      }
      // The trainer keeps the most recent eval.max-examples (32) held-out examples.
      List<Batch.Example> kept = evalSet.subList(Math.max(0, evalSet.size() - 32), evalSet.size());
      try (NDManager params = NDManager.newBaseManager();
          ChatSession pulled = ChatSession.open(model, out, params)) {
        assertThat(pulled.meanLoss(kept)).isCloseTo(evalLoss,
            org.assertj.core.data.Offset.offset(1e-4));
      }
    }
  }

  private static double firstEvalLoss(KafkaCluster kafka, SchemaRegistryClient client,
      String topic) {
    List<CheckpointRecord> records = Clients.consume(kafka, topic,
        AvroDeserializer.specific(CheckpointRecord.class, client), 1, Duration.ofSeconds(10))
        .stream().map(r -> r.value()).toList();
    for (CheckpointRecord r : records) {
      if (r.getPayload() instanceof io.continualsft.avro.CheckpointManifest m) {
        return m.getMetrics().get("eval_loss");
      }
    }
    throw new AssertionError("no manifest");
  }

  @Test
  void aStepWithNonFiniteGradientsIsSkippedAndNothingNonFiniteIsPublished(KafkaCluster kafka,
      SchemaRegistry registry) throws Exception {
    Topics t = Topics.create(kafka);
    List<SftExample> examples = TrainerFixtures.examples(model,
        TrainerFixtures.conversations(30, "nan"), t.examples);
    try (SchemaRegistryClient client = registry.client(true)) {
      TrainerFixtures.produce(kafka, client, t.examples, examples);
      TrainerSettings c = TrainerFixtures.settings(kafka, registry.url(), model, t.examples,
          t.dlq, t.checkpoints, "default", "it-nan-" + t.examples)
          .set(TrainerConfig.NON_FINITE_STEPS, List.of(2L))
          .set(TrainerConfig.EVAL_FRACTION, 0)
          .build();
      TrainerService service = runUntil(c, kafka, client, t.checkpoints,
          "default", ch -> ch.manifest().getSourceOffsets().get(0).getOffset() == examples.size());
      double skipped = service.metrics().stepsSkipped();
      service.close();
      Checkpoint last = newest(kafka, client, t.checkpoints, "default").orElseThrow();
      assertThat(skipped).as("the injected step, and no other").isEqualTo(1.0);
      assertThat(last.manifest().getMetrics().get("skipped_steps")).isEqualTo(skipped);
      Path dir = TestDirs.fresh("nan-adapter");
      Files.createDirectories(dir);
      Files.write(dir.resolve(Checkpoint.ADAPTER_CONFIG), last.files().get(Checkpoint.ADAPTER_CONFIG));
      Files.write(dir.resolve(Checkpoint.ADAPTER_WEIGHTS), last.files().get(Checkpoint.ADAPTER_WEIGHTS));
      PeftAdapter adapter = PeftAdapter.read(dir);
      adapter.weights().values().forEach(w -> {
        for (float v : w) {
          assertThat(Float.isFinite(v)).isTrue();
        }
      });
      // The skipped step's examples are not counted as trained.
      assertThat(last.manifest().getExamplesTrained()).isLessThan(examples.size());
    }
  }

  @Test
  void aSecondTrainerForTheSameAdapterFencesTheFirst(KafkaCluster kafka, SchemaRegistry registry)
      throws Exception {
    Topics t = Topics.create(kafka);
    List<SftExample> examples = TrainerFixtures.examples(model,
        TrainerFixtures.conversations(20, "fence"), t.examples);
    try (SchemaRegistryClient client = registry.client(true)) {
      TrainerSettings c = TrainerFixtures.settings(kafka, registry.url(), model, t.examples,
          t.dlq, t.checkpoints, "default", "it-fence-" + t.examples).build();
      TrainerService first = TrainerService.create(c);
      AtomicBoolean stopFirst = new AtomicBoolean();
      CompletableFuture<Void> firstRun = CompletableFuture.runAsync(() -> first.run(stopFirst::get));
      Thread.sleep(3000); // the first has initialised its transactions and is polling
      TrainerService second = TrainerService.create(c);
      AtomicBoolean stopSecond = new AtomicBoolean();
      CompletableFuture<Void> secondRun = CompletableFuture.runAsync(() -> second.run(stopSecond::get));
      Thread.sleep(3000);
      TrainerFixtures.produce(kafka, client, t.examples, examples); // the first tries to commit
      // Fenced: ProducerFencedException, or InvalidProducerEpochException with Kafka 4's
      // transactions v2; either way the first trainer stops and publishes nothing more.
      assertThatThrownBy(() -> firstRun.get(120, java.util.concurrent.TimeUnit.SECONDS))
          .satisfies(e -> assertThat(org.apache.kafka.common.utils.Utils.stackTrace(e))
              .containsAnyOf("ProducerFencedException", "InvalidProducerEpochException"));
      Instant deadline = Instant.now().plusSeconds(120);
      while (Instant.now().isBefore(deadline)) {
        Optional<Checkpoint> ch = newest(kafka, client, t.checkpoints, "default");
        if (ch.isPresent() && ch.get().manifest().getSourceOffsets().get(0).getOffset() == examples.size()) {
          break;
        }
        Thread.sleep(500);
      }
      stopSecond.set(true);
      secondRun.get();
      first.close();
      second.close();
      assertThat(newest(kafka, client, t.checkpoints, "default").orElseThrow()
          .manifest().getSourceOffsets().get(0).getOffset()).isEqualTo(examples.size());
    }
  }
}
