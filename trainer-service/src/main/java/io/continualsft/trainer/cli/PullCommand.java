package io.continualsft.trainer.cli;

import io.continualsft.schemas.SftTopics;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointReader;
import io.continualsft.trainer.checkpoint.PeftDirectory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "pull", mixinStandardHelpOptions = true,
    description = "Writes the newest complete checkpoint of an adapter as a PEFT directory"
        + " (adapter_config.json + adapter_model.safetensors), checksums verified, atomically.")
final class PullCommand implements Callable<Integer> {
  @Option(names = "--bootstrap", required = true) String bootstrap;

  @Option(names = "--registry", required = true) String registry;

  @Option(names = "--adapter", defaultValue = "default") String adapter;

  @Option(names = "--topic", defaultValue = SftTopics.ADAPTER_CHECKPOINTS) String topic;

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
    long written = -1;
    try (CheckpointReader reader = CheckpointReader.open(bootstrap,
        SchemaRegistryConfig.forUrl(registry, false), topic, Map.of())) {
      do {
        Optional<Checkpoint> newest = reader.newest(adapter);
        if (newest.isEmpty() && !follow) {
          System.err.println("error: no complete checkpoint of adapter " + adapter + " in " + topic);
          return 1;
        }
        if (newest.isPresent() && newest.get().version() > written) {
          Checkpoint c = newest.get();
          Path target = follow ? out.resolve("v" + c.version()) : out;
          PeftDirectory.write(c, target);
          if (follow) {
            PeftDirectory.link(out.resolve("latest"), target.getFileName());
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
