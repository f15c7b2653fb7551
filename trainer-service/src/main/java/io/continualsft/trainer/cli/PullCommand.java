package io.continualsft.trainer.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.continualsft.runtime.config.ClientConfigFile;
import io.continualsft.schemas.SftTopics;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointReader;
import io.continualsft.trainer.checkpoint.PeftDirectory;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "pull", mixinStandardHelpOptions = true,
    description = "Writes the newest complete checkpoint of an adapter as a PEFT directory"
        + " (adapter_config.json + adapter_model.safetensors), checksums verified, atomically.")
final class PullCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** The longest wait between retries of --follow after failures. */
  private static final Duration MAX_BACKOFF = Duration.ofMinutes(5);

  @Option(names = "--bootstrap", required = true) String bootstrap;

  @Option(names = "--registry", description = "Schema registry URL; or schema.registry.url in"
      + " --client-config.") String registry;

  @Option(names = "--client-config", description = "Kafka client properties (security.protocol,"
      + " sasl.*, ssl.*) and schema registry keys (basic.auth.*, bearer.auth.*,"
      + " schema.registry.ssl.*).") Path clientConfig;

  @Option(names = "--adapter", defaultValue = "default") String adapter;

  @Option(names = "--topic", defaultValue = SftTopics.ADAPTER_CHECKPOINTS) String topic;

  @Option(names = "--out", required = true, description = "Directory to write (replaced atomically);"
      + " with --follow, the parent of v<N>/ directories and a `latest` link.")
  Path out;

  @Option(names = "--follow", description = "Keep pulling each new version until stopped;"
      + " transient failures (broker, registry, vLLM) are retried with backoff.")
  boolean follow;

  @Option(names = "--vllm-url", description = "With --follow: ask this vLLM server to load each"
      + " version (POST /v1/load_lora_adapter) under the name <adapter>-v<N>.")
  String vllmUrl;

  @Option(names = "--vllm-timeout-seconds", defaultValue = "60",
      description = "Timeout of each vLLM call (default: ${DEFAULT-VALUE}).")
  int vllmTimeout;

  @Option(names = "--interval-seconds", defaultValue = "10") int interval;

  @Override
  public Integer call() throws Exception {
    Map<String, String> client = ClientConfigFile.read(clientConfig);
    if (registry != null) {
      client.put(SchemaRegistryConfig.URL, registry);
    }
    client.putIfAbsent(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS, "false");
    SchemaRegistryConfig registryConfig = SchemaRegistryConfig.fromMap(client);
    long written = -1;
    long loaded = -1;
    Duration backoff = Duration.ofSeconds(interval);
    try (CheckpointReader reader = CheckpointReader.open(bootstrap, registryConfig, topic,
        new LinkedHashMap<>(client))) {
      do {
        try {
          Optional<Checkpoint> newest = reader.newest(adapter);
          if (newest.isEmpty() && !follow) {
            System.err.println("error: no complete checkpoint of adapter " + adapter + " in "
                + topic);
            return 1;
          }
          if (newest.isPresent() && newest.get().version() > written) {
            Checkpoint c = newest.get();
            Path target = follow ? out.resolve("v" + c.version()) : out;
            PeftDirectory.write(c, target);
            if (follow) {
              PeftDirectory.link(out.resolve("latest"), target.getFileName());
            }
            written = c.version();
            System.out.printf("pulled %s v%d (step %d, %d examples, eval loss %s) to %s%n",
                adapter, c.version(), c.manifest().getStep(), c.manifest().getExamplesTrained(),
                c.manifest().getMetrics().getOrDefault("eval_loss", Double.NaN), target);
          }
          if (follow && vllmUrl != null && written > loaded) {
            // Retried at the next round until it succeeds: a serving restart is survived.
            loadIntoVllm(vllmUrl, adapter + "-v" + written,
                out.resolve("v" + written).toAbsolutePath(), Duration.ofSeconds(vllmTimeout));
            loaded = written;
          }
          backoff = Duration.ofSeconds(interval);
        } catch (RuntimeException | IOException e) {
          if (!follow) {
            throw e;
          }
          // Transient in a follower's world: the broker, the registry or vLLM is away.
          System.err.printf("pull: %s; retrying in %d s%n", e.getMessage(), backoff.toSeconds());
          Thread.sleep(backoff.toMillis());
          backoff = backoff.multipliedBy(2).compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF
              : backoff.multipliedBy(2);
          continue;
        }
        if (follow) {
          Thread.sleep(interval * 1000L);
        }
      } while (follow);
    }
    return 0;
  }

  private static void loadIntoVllm(String vllm, String name, Path dir, Duration timeout)
      throws IOException, InterruptedException {
    Map<String, String> request = new LinkedHashMap<>();
    request.put("lora_name", name);
    request.put("lora_path", dir.toString());
    try (HttpClient http = HttpClient.newBuilder().connectTimeout(timeout).build()) {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(
              vllm.replaceAll("/+$", "") + "/v1/load_lora_adapter"))
          .timeout(timeout)
          .header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(request))).build(),
          HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() / 100 != 2) {
        String body = r.body().length() > 500 ? r.body().substring(0, 500) + "..." : r.body();
        if (r.statusCode() == 400 && body.contains("already")) {
          return; // loaded before a restart of this follower
        }
        throw new IOException("vLLM refused " + name + ": HTTP " + r.statusCode() + " " + body);
      }
    }
  }
}
