package io.continualsft.it.bench;

import io.continualsft.avro.CheckpointRecord;
import io.continualsft.local.KafkaBroker;
import io.continualsft.local.SchemaRegistryServer;
import io.continualsft.local.Topics;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointFiles;
import io.continualsft.trainer.checkpoint.CheckpointReader;
import io.continualsft.trainer.checkpoint.PeftDirectory;
import io.continualsft.trainer.checkpoint.TrainingState;
import io.continualsft.trainer.lora.LoraSettings;
import io.continualsft.trainer.lora.PeftAdapter;
import io.continualsft.trainer.lora.PeftKeys;
import io.continualsft.trainer.model.ModelConfig;
import io.continualsft.trainer.model.ModelIdentity;
import io.continualsft.trainer.model.WeightNames;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Publishing and pulling a 20 MB adapter on loopback: a Llama-3-8B-shaped LoRA (hidden 4096,
 * 32 layers, r = 12 on q/v: 5.1 M parameters, 20.4 MB of F32) with its AdamW moments, as the
 * service checkpoints it (every file cut into 512 KiB chunks, a manifest, one transaction), and
 * as `pull` reads it back (the newest complete version found backwards, every checksum checked,
 * the PEFT files written atomically). Reference, in the same run: the same bytes as raw 512 KiB
 * records through a transactional producer and a read_committed consumer.
 *
 * <pre>./mvnw -q -pl integration-tests exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=io.continualsft.it.bench.AdapterTransferBenchmark</pre>
 */
public final class AdapterTransferBenchmark {
  static final int CHUNK = 524_288;
  static final int RUNS = 5;

  public static void main(String[] args) throws Exception {
    Path work = Files.createTempDirectory("transfer-bench");
    LoraSettings lora = new LoraSettings(12, 24, 0, List.of("q_proj", "v_proj"), false);
    PeftAdapter adapter = randomAdapter(lora);
    long adapterBytes = adapter.weightsBytes().length;
    Map<String, float[]> moments = new LinkedHashMap<>();
    adapter.weights().forEach((k, v) -> {
      moments.put(k + ".exp_avg", v.clone());
      moments.put(k + ".exp_avg_sq", v.clone());
    });
    ModelIdentity identity = new ModelIdentity("bench", "b".repeat(64), "t".repeat(64));
    System.out.printf("adapter_model.safetensors: %,d bytes%n", adapterBytes);
    try (KafkaBroker broker = KafkaBroker.start(work.resolve("kafka"));
        SchemaRegistryServer registry = SchemaRegistryServer.start(work.resolve("registry"));
        Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG,
            broker.bootstrapServers()));
        SchemaRegistryClient client = new SchemaRegistryClient(
            SchemaRegistryConfig.forUrl(registry.url(), true))) {
      Topics.createAndAwait(admin, List.of(Topics.topic("ckpt", 1), Topics.topic("raw", 1)),
          Duration.ofSeconds(60));
      Map<String, Object> producerConfig = Map.of(
          ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers(),
          ProducerConfig.MAX_REQUEST_SIZE_CONFIG, CHUNK + 65_536,
          ProducerConfig.TRANSACTIONAL_ID_CONFIG, "bench-" + UUID.randomUUID());
      try (var producer = new KafkaProducer<String, CheckpointRecord>(producerConfig,
              new StringSerializer(), new AvroSerializer<>(client, false));
          var raw = new KafkaProducer<byte[], byte[]>(Map.of(
              ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers(),
              ProducerConfig.MAX_REQUEST_SIZE_CONFIG, CHUNK + 65_536,
              ProducerConfig.TRANSACTIONAL_ID_CONFIG, "bench-raw-" + UUID.randomUUID()),
              new ByteArraySerializer(), new ByteArraySerializer());
          CheckpointReader reader = CheckpointReader.open(broker.bootstrapServers(),
              SchemaRegistryConfig.forUrl(registry.url(), false), "ckpt", Map.of())) {
        producer.initTransactions();
        raw.initTransactions();
        for (int run = 0; run <= RUNS; run++) { // run 0 warms up
          long version = run + 1;
          // Publish, as the service does.
          long t0 = System.nanoTime();
          TrainingState state = new TrainingState("bench", version, 100, 100, 1000, 100_000, 0,
              0, 0, 0, 0, Map.of("in:0", 1000L), Map.of(), List.of());
          List<CheckpointRecord> records = CheckpointFiles.records("bench", version,
              new CheckpointFiles.Content(adapter, moments, state),
              new CheckpointFiles.ManifestFacts(100, 1000, 100_000,
                  Map.of(new TopicPartition("in", 0), 1000L), identity, lora, Map.of(),
                  Instant.now()), CHUNK).records();
          long t1 = System.nanoTime();
          producer.beginTransaction();
          for (CheckpointRecord r : records) {
            producer.send(new ProducerRecord<>("ckpt", 0, "bench", r));
          }
          producer.commitTransaction();
          long t2 = System.nanoTime();
          // Pull, as `pull` does. The commit markers reach the partition just after
          // commitTransaction returns, so a read at once may still see the previous version:
          // counted in the pull's time, as a follower would see it.
          Checkpoint c = reader.newest("bench").orElseThrow();
          int lookups = 1;
          while (c.version() != version) {
            c = reader.newest("bench").orElseThrow();
            lookups++;
          }
          long tFound = System.nanoTime();
          Path out = work.resolve("pulled-" + run);
          PeftDirectory.write(c, out);
          long t3 = System.nanoTime();
          long total = c.files().values().stream().mapToLong(b -> b.length).sum();
          // Reference: the same bytes, raw.
          List<byte[]> chunks = new ArrayList<>();
          for (byte[] f : c.files().values()) {
            for (int o = 0; o < f.length; o += CHUNK) {
              chunks.add(java.util.Arrays.copyOfRange(f, o, Math.min(f.length, o + CHUNK)));
            }
          }
          long r0 = System.nanoTime();
          raw.beginTransaction();
          for (byte[] chunk : chunks) {
            raw.send(new ProducerRecord<>("raw", 0, null, chunk));
          }
          raw.commitTransaction();
          long r1 = System.nanoTime();
          readRaw(broker.bootstrapServers(), chunks.size(), run);
          long r2 = System.nanoTime();
          if (run > 0) {
            System.out.printf("run %d: checkpoint %,d bytes (%d records) | publish %.2f s"
                    + " (encode %.2f + transaction %.2f) | pull %.2f s | raw produce %.2f s,"
                    + " raw consume %.2f s | ratios publish/raw %.2f, pull/raw %.2f | pull: %d"
                + " lookup(s) %.2f s, write %.2f s%n", run,
                total, records.size(), (t2 - t0) / 1e9, (t1 - t0) / 1e9, (t2 - t1) / 1e9,
                (t3 - t2) / 1e9, (r1 - r0) / 1e9, (r2 - r1) / 1e9,
                (double) (t2 - t0) / (r1 - r0), (double) (t3 - t2) / (r2 - r1), lookups,
                (tFound - t2) / 1e9, (t3 - tFound) / 1e9);
          }
        }
      }
    }
  }

  /** Reads the last {@code count} raw chunks back with read_committed. */
  static void readRaw(String bootstrap, int count, int run) {
    try (var consumer = new KafkaConsumer<byte[], byte[]>(Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
        ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 4 * 1_048_576),
        new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      TopicPartition tp = new TopicPartition("raw", 0);
      consumer.assign(List.of(tp));
      long end = consumer.endOffsets(List.of(tp)).get(tp);
      consumer.seek(tp, Math.max(0, end - count - 1)); // the marker after the last one
      int read = 0;
      long bytes = 0;
      while (consumer.position(tp) < end) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          read++;
          bytes += r.value().length;
        }
      }
      if (read < count) {
        throw new IllegalStateException("raw run " + run + ": read " + read + " of " + count);
      }
    }
  }

  static PeftAdapter randomAdapter(LoraSettings lora) {
    ModelConfig config = ModelConfig.of("llama", 128_256, 4096, 14_336, 32, 32, 8, 128, false);
    SplittableRandom random = new SplittableRandom(5);
    Map<String, float[]> weights = new LinkedHashMap<>();
    Map<String, long[]> shapes = new LinkedHashMap<>();
    for (int layer = 0; layer < 32; layer++) {
      for (String module : lora.targetModules()) {
        long[] shape = WeightNames.linearShape(config, module);
        for (char m : new char[] {'A', 'B'}) {
          long[] s = m == 'A' ? new long[] {lora.r(), shape[1]} : new long[] {shape[0], lora.r()};
          float[] v = new float[(int) (s[0] * s[1])];
          for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextGaussian() * 0.01f;
          }
          String key = PeftKeys.toKey(new PeftKeys.LoraParam(layer, module, m));
          weights.put(key, v);
          shapes.put(key, s);
        }
      }
    }
    return new PeftAdapter(lora, "bench", weights, shapes);
  }
}
