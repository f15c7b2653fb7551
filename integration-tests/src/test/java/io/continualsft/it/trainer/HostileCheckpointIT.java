package io.continualsft.it.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.CheckpointChunk;
import io.continualsft.avro.CheckpointFile;
import io.continualsft.avro.CheckpointManifest;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.SftExample;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.it.support.TestDirs;
import io.continualsft.local.FreePorts;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointCodec;
import io.continualsft.trainer.cli.TrainerCli;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.service.TrainerService;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * The checkpoint topic as untrusted input, on the real broker: after a trainer's real checkpoints
 * come bytes that are not Avro, a complete checkpoint naming {@code ../../escape}, a complete
 * checkpoint whose files do not parse, a manifest claiming a terabyte in a million chunks, and a
 * checkpoint whose weights declare a shape whose element count wraps 64-bit arithmetic back to
 * the real byte count (which Python's {@code safetensors} refuses).
 * {@code pull} delivers the real newest checkpoint and writes nothing outside its directory; a
 * trainer restarting on the topic restores from it, counts the two it refused, and stays healthy.
 */
@RealServices
class HostileCheckpointIT {

  @Test
  void hostileRecordsOnTheCheckpointTopicAreSkipped(KafkaCluster kafka, SchemaRegistry registry)
      throws Exception {
    Path model = TrainerFixtures.tinyModel(Files.createDirectories(TestDirs.fresh("hostile-model")));
    TrainerServiceIT.Topics t = TrainerServiceIT.Topics.create(kafka);
    List<SftExample> examples = TrainerFixtures.examples(model,
        TrainerFixtures.conversations(30, "hostile"), t.examples());
    try (SchemaRegistryClient client = registry.client(true)) {
      TrainerFixtures.produce(kafka, client, t.examples(), examples);
      TrainerSettings settings = TrainerFixtures.settings(kafka, registry.url(), model,
          t.examples(), t.dlq(), t.checkpoints(), "default", "it-hostile-" + t.examples())
          .set(TrainerConfig.METRICS_PORT, FreePorts.pick()).set(TrainerConfig.METRICS_HOST, "127.0.0.1").build();
      TrainerServiceIT.runUntil(settings, kafka, client, t.checkpoints(), "default",
          c -> c.manifest().getSourceOffsets().get(0).getOffset() == examples.size()).close();
      Checkpoint real = TrainerServiceIT.newest(kafka, client, t.checkpoints(), "default")
          .orElseThrow();
      long v = real.version();

      try (var raw = new KafkaProducer<>(Map.<String, Object>of("bootstrap.servers",
              kafka.bootstrapServers()), new StringSerializer(), new ByteArraySerializer());
          var avro = new KafkaProducer<>(Map.<String, Object>of("bootstrap.servers",
              kafka.bootstrapServers()), new StringSerializer(),
              new AvroSerializer<CheckpointRecord>(client, false))) {
        raw.send(new ProducerRecord<>(t.checkpoints(), 0, "default",
            "not a checkpoint".getBytes(StandardCharsets.UTF_8))).get();
        Map<String, byte[]> escape = new LinkedHashMap<>(real.files());
        escape.put("../../escape", "owned".getBytes(StandardCharsets.UTF_8));
        for (CheckpointRecord r : CheckpointCodec.encode("default", v + 1, escape,
            CheckpointManifest.newBuilder(real.manifest()), 1 << 20)) {
          avro.send(new ProducerRecord<>(t.checkpoints(), 0, "default", r)).get();
        }
        Map<String, byte[]> garbage = new LinkedHashMap<>(real.files());
        garbage.put(Checkpoint.ADAPTER_CONFIG, "{not json".getBytes(StandardCharsets.UTF_8));
        for (CheckpointRecord r : CheckpointCodec.encode("default", v + 2, garbage,
            CheckpointManifest.newBuilder(real.manifest()), 1 << 20)) {
          avro.send(new ProducerRecord<>(t.checkpoints(), 0, "default", r)).get();
        }
        // Complete and checksummed, but its weights' header declares a shape of 2^62 more
        // elements than the data holds: times 4 bytes that wraps to the real byte count.
        Map<String, byte[]> wrapping = new LinkedHashMap<>(real.files());
        wrapping.put(Checkpoint.ADAPTER_WEIGHTS, withWrappingShape(
            real.files().get(Checkpoint.ADAPTER_WEIGHTS)));
        for (CheckpointRecord r : CheckpointCodec.encode("default", v + 4, wrapping,
            CheckpointManifest.newBuilder(real.manifest()), 1 << 20)) {
          avro.send(new ProducerRecord<>(t.checkpoints(), 0, "default", r)).get();
        }
        CheckpointManifest huge = CheckpointManifest.newBuilder(real.manifest())
            .setFiles(List.of(new CheckpointFile(Checkpoint.ADAPTER_WEIGHTS, 1L << 40,
                "0".repeat(64), 1_000_000))).build();
        avro.send(new ProducerRecord<>(t.checkpoints(), 0, "default", CheckpointRecord
            .newBuilder().setAdapter("default").setVersion(v + 3).setPayload(huge).build())).get();
        // A chunk forged after the real checkpoint's manifest, under its version and file name.
        avro.send(new ProducerRecord<>(t.checkpoints(), 0, "default", CheckpointRecord
            .newBuilder().setAdapter("default").setVersion(v).setPayload(CheckpointChunk
                .newBuilder().setFile(Checkpoint.ADAPTER_WEIGHTS).setIndex(0).setOffset(0)
                .setData(ByteBuffer.wrap(new byte[] {1, 2, 3})).build()).build())).get();
      }

      // pull: the real newest, nothing written outside its directory.
      Path out = TestDirs.fresh("hostile-pull").resolve("adapter");
      assertThat(TrainerCli.commandLine().execute("pull", "--bootstrap", kafka.bootstrapServers(),
          "--registry", registry.url(), "--topic", t.checkpoints(), "--candidates",
          "--out", out.toString()))
          .isZero();
      assertThat(CheckpointCodec.sha256(Files.readAllBytes(out.resolve(
          Checkpoint.ADAPTER_WEIGHTS))))
          .isEqualTo(CheckpointCodec.sha256(real.files().get(Checkpoint.ADAPTER_WEIGHTS)));
      try (var files = Files.walk(out.getParent().getParent())) {
        assertThat(files.filter(p -> p.getFileName().toString().equals("escape"))).isEmpty();
      }

      // A trainer restarting on this topic restores the real checkpoint and counts the refusal.
      AtomicBoolean stop = new AtomicBoolean();
      try (TrainerService restarted = TrainerService.create(settings)) {
        CompletableFuture<Void> running = CompletableFuture.runAsync(
            () -> restarted.run(stop::get), r -> new Thread(r, "hostile-trainer").start());
        Instant deadline = Instant.now().plusSeconds(120);
        while (!restarted.state().equals("RUNNING") && !running.isDone()
            && Instant.now().isBefore(deadline)) {
          Thread.sleep(100);
        }
        assertThat(restarted.state()).isEqualTo("RUNNING");
        String scrape;
        try (HttpClient http = HttpClient.newHttpClient()) {
          scrape = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
              + restarted.metricsPort() + "/metrics")).build(),
              HttpResponse.BodyHandlers.ofString()).body();
        }
        assertThat(scrape).as("the unparseable files and the wrapping shape")
            .contains("sft_trainer_checkpoints_invalid_total 2.0");
        stop.set(true);
        running.get();
      }
      assertThat(TrainerServiceIT.newest(kafka, client, t.checkpoints(), "default")
          .orElseThrow().version()).as("nothing new to train: no new checkpoint").isEqualTo(v);
    }
  }

  /** {@code safetensors} with its first tensor's shape {@code [n]} made {@code [n + 2^62]}. */
  static byte[] withWrappingShape(byte[] file) throws java.io.IOException {
    java.nio.ByteBuffer in = java.nio.ByteBuffer.wrap(file).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    int headerLength = (int) in.getLong();
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    var header = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(
        new String(file, 8, headerLength, StandardCharsets.UTF_8));
    String first = null;
    for (var it = header.fieldNames(); it.hasNext(); ) {
      String name = it.next();
      if (!name.equals("__metadata__")) {
        first = name;
        break;
      }
    }
    var entry = (com.fasterxml.jackson.databind.node.ObjectNode) header.get(first);
    long elements = 1;
    for (var d : entry.get("shape")) {
      elements *= d.asLong();
    }
    entry.putArray("shape").add(elements + (1L << 62));
    byte[] text = json.writeValueAsBytes(header);
    java.nio.ByteBuffer out = java.nio.ByteBuffer.allocate(8 + text.length + file.length - 8
        - headerLength).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    out.putLong(text.length).put(text).put(file, 8 + headerLength, file.length - 8 - headerLength);
    return out.array();
  }
}
