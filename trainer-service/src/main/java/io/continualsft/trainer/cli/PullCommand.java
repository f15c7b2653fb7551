package io.continualsft.trainer.cli;

import io.continualsft.avro.AdapterRelease;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointReader;
import io.continualsft.trainer.checkpoint.PeftDirectory;
import io.continualsft.trainer.release.ReleaseLog;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "pull", mixinStandardHelpOptions = true,
    description = "Writes the released version of an adapter (or, with --candidates, its newest"
        + " complete checkpoint) as a PEFT directory (adapter_config.json +"
        + " adapter_model.safetensors), checksums verified, atomically.")
final class PullCommand implements Callable<Integer> {
  /** The longest wait between retries of --follow after failures. */
  private static final Duration MAX_BACKOFF = Duration.ofMinutes(5);

  @Mixin ClusterOptions cluster;

  @Option(names = "--adapter", defaultValue = "default") String adapter;

  @Option(names = "--out", required = true, description = "Directory to write (replaced atomically);"
      + " with --follow, the parent of v<N>/ directories and a `latest` link.")
  Path out;

  @Option(names = "--candidates", description = "Deliver the newest complete checkpoint, released"
      + " or not, instead of the released version.")
  boolean candidates;

  @Option(names = "--follow", description = "Keep delivering each new version (a rollback"
      + " included) until stopped; transient failures (broker, registry, vLLM) are retried with"
      + " backoff.")
  boolean follow;

  @Option(names = "--vllm-url", description = "With --follow: make this vLLM server serve the"
      + " delivered version as <adapter>-v<N> (POST /v1/load_lora_adapter) and unload every other"
      + " <adapter>-v<M> (POST /v1/unload_lora_adapter), checked each round against"
      + " GET /v1/models, so a restarted server is loaded again.")
  String vllmUrl;

  @Option(names = "--vllm-timeout-seconds", defaultValue = "60",
      description = "Timeout of each vLLM call (default: ${DEFAULT-VALUE}).")
  int vllmTimeout;

  @Option(names = "--interval-seconds", defaultValue = "10") int interval;

  @Override
  public Integer call() throws Exception {
    Map<String, String> client = cluster.client();
    long written = -1;
    Duration backoff = Duration.ofSeconds(interval);
    VllmAdapters vllm = vllmUrl == null ? null
        : new VllmAdapters(vllmUrl, Duration.ofSeconds(vllmTimeout));
    try (CheckpointReader reader = CheckpointReader.open(cluster.bootstrap,
        cluster.registryConfig(client), cluster.checkpoints, cluster.kafka(client));
        ReleaseLog releases = candidates ? null : ReleaseLog.open(cluster.bootstrap,
            cluster.registryConfig(client), cluster.releases, cluster.kafka(client))) {
      do {
        try {
          Optional<Checkpoint> target = candidates ? reader.newest(adapter)
              : released(reader, releases);
          if (target.isEmpty() && !follow) {
            System.err.println(candidates
                ? "error: no complete checkpoint of adapter " + adapter + " in " + cluster.checkpoints
                : "error: adapter " + adapter + " has no release on " + cluster.releases
                    + " (--candidates pulls its newest checkpoint instead)");
            return 1;
          }
          if (target.isPresent() && target.get().version() != written) {
            Checkpoint c = target.get();
            Path dir = follow ? out.resolve("v" + c.version()) : out;
            PeftDirectory.write(c, dir);
            if (follow) {
              PeftDirectory.link(out.resolve("latest"), dir.getFileName());
            }
            written = c.version();
            System.out.printf("pulled %s v%d (step %d, %d examples, eval loss %s) to %s%n",
                adapter, c.version(), c.manifest().getStep(), c.manifest().getExamplesTrained(),
                c.manifest().getMetrics().getOrDefault("eval_loss", Double.NaN), dir);
          }
          if (follow && servingNone && written != 0) {
            // Every release was revoked by an erasure: nothing may serve this adapter.
            Files.deleteIfExists(out.resolve("latest"));
            if (vllm != null) {
              vllm.unloadAll(adapter);
            }
            System.out.printf("the release of %s was revoked and no earlier release is clean:"
                + " v%d is no longer served, and nothing is until a new release%n", adapter,
                written);
            written = 0;
          }
          if (follow && vllm != null && written > 0) {
            // Each round, so a vLLM that restarted (and forgot its adapters) is loaded again.
            vllm.serveOnly(adapter, written, out.resolve("v" + written).toAbsolutePath());
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

  /** Set by {@link #released}: the release is version 0, every earlier one revoked. */
  private boolean servingNone;

  /**
   * The released checkpoint, or empty when the adapter has no release yet, or none that is not
   * revoked (version 0, {@link #servingNone}).
   */
  private Optional<Checkpoint> released(CheckpointReader reader, ReleaseLog releases)
      throws IOException {
    Optional<AdapterRelease> current = releases.current(adapter);
    servingNone = current.isPresent() && current.get().getVersion() == 0;
    if (current.isEmpty() || servingNone) {
      return Optional.empty();
    }
    long version = current.get().getVersion();
    if (current.get().getRevoked().contains(version)) {
      throw new IOException("the release of " + adapter + " is v" + version + ", which an"
          + " erasure revoked; waiting for the trainer's next release");
    }
    Optional<Checkpoint> c = reader.version(adapter, version);
    if (c.isEmpty()) {
      throw new IOException("the release of " + adapter + " is v" + version + ", which is not"
          + " complete on " + cluster.checkpoints + " (deleted by retention, or a forged"
          + " release?); release another version with trainer-service release --to");
    }
    return c;
  }
}
