package io.continualsft.trainer.cli;

import io.continualsft.avro.CheckpointRecord;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointLocator;
import io.continualsft.trainer.checkpoint.Directories;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "pull", mixinStandardHelpOptions = true,
    description = "Writes the newest complete checkpoint of an adapter as a PEFT directory"
        + " (adapter_config.json + adapter_model.safetensors), checksums verified, atomically.")
final class PullCommand implements Callable<Integer> {
  @Option(names = "--bootstrap", required = true) String bootstrap;

  @Option(names = "--registry", required = true) String registry;

  @Option(names = "--adapter", defaultValue = "default") String adapter;

  @Option(names = "--topic", defaultValue = "sft.adapter-checkpoints") String topic;

  @Option(names = "--out", required = true, description = "Directory to write (replaced atomically);"
      + " with --follow, the parent of v<N>/ directories and a `latest` link.")
  Path out;

  @Option(names = "--follow", description = "Keep pulling each new version until stopped.")
  boolean follow;

  @Option(names = "--vllm-url", description = "With --follow: ask this vLLM server to load each"
      + " version (POST /v1/load_lora_adapter) under the name <adapter>-v<N>.")
  String vllmUrl;

  @Option(names = "--interval-seconds", defaultValue = "10") int interval;

  @Override
  public Integer call() throws Exception {
    Map<String, Object> config = Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
        ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 4 * 1_048_576);
    long written = -1;
    try (SchemaRegistryClient client =
            new SchemaRegistryClient(SchemaRegistryConfig.forUrl(registry, false));
        KafkaConsumer<String, CheckpointRecord> consumer = new KafkaConsumer<>(config,
            new StringDeserializer(), AvroDeserializer.specific(CheckpointRecord.class, client))) {
      do {
        Optional<Checkpoint> newest = CheckpointLocator.newest(consumer, topic, adapter,
            Duration.ofSeconds(60));
        if (newest.isEmpty() && !follow) {
          System.err.println("error: no complete checkpoint of adapter " + adapter + " in " + topic);
          return 1;
        }
        if (newest.isPresent() && newest.get().version() > written) {
          Checkpoint c = newest.get();
          Path target = follow ? out.resolve("v" + c.version()) : out;
          writeAtomically(c, target);
          if (follow) {
            link(out.resolve("latest"), target.getFileName());
            if (vllmUrl != null) {
              loadIntoVllm(vllmUrl, adapter + "-v" + c.version(), target.toAbsolutePath());
            }
          }
          written = c.version();
          System.out.printf("pulled %s v%d (step %d, %d examples, eval loss %s) to %s%n", adapter,
              c.version(), c.manifest().getStep(), c.manifest().getExamplesTrained(),
              c.manifest().getMetrics().getOrDefault("eval_loss", Double.NaN), target);
        }
        if (follow) {
          Thread.sleep(interval * 1000L);
        }
      } while (follow);
    }
    return 0;
  }

  /** Writes the PEFT files into a temporary sibling directory, then renames it over the target. */
  static void writeAtomically(Checkpoint c, Path target) throws IOException {
    Path parent = target.toAbsolutePath().getParent();
    Files.createDirectories(parent);
    Path tmp = Files.createTempDirectory(parent, "." + target.getFileName() + ".tmp");
    for (String file : List.of(Checkpoint.ADAPTER_CONFIG, Checkpoint.ADAPTER_WEIGHTS)) {
      Files.write(tmp.resolve(file), c.files().get(file));
    }
    if (Files.exists(target)) {
      Path old = Files.createTempDirectory(parent, "." + target.getFileName() + ".old");
      Files.move(target, old.resolve("d"), StandardCopyOption.ATOMIC_MOVE);
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      Directories.deleteTree(old);
    } else {
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
    }
  }

  private static void link(Path link, Path target) throws IOException {
    Path tmp = link.resolveSibling(".latest.tmp");
    Files.deleteIfExists(tmp);
    Files.createSymbolicLink(tmp, target);
    Files.move(tmp, link, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  private static void loadIntoVllm(String vllm, String name, Path dir) throws Exception {
    String body = "{\"lora_name\": \"" + name + "\", \"lora_path\": \"" + dir + "\"}";
    try (HttpClient http = HttpClient.newHttpClient()) {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(
              vllm.replaceAll("/+$", "") + "/v1/load_lora_adapter"))
          .header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() / 100 != 2) {
        System.err.printf("vLLM refused %s: HTTP %d %s%n", name, r.statusCode(), r.body());
      }
    }
  }
}
