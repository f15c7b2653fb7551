package io.continualsft.trainer.cli;

import io.continualsft.avro.AdapterRelease;
import io.continualsft.avro.ReleaseDecision;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointPublisher;
import io.continualsft.trainer.checkpoint.CheckpointReader;
import io.continualsft.trainer.release.ReleaseLog;
import io.continualsft.trainer.release.Releases;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.producer.KafkaProducer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Rollback, or promotion by hand: release an existing candidate. */
@Command(name = "release", mixinStandardHelpOptions = true,
    description = "Releases checkpoint VERSION of an adapter (a rollback, or a promotion the gate"
        + " refused) after checking that it is complete on the checkpoint topic. `pull` and"
        + " `pull --follow` then deliver it.")
final class ReleaseCommand implements Callable<Integer> {
  @Mixin ClusterOptions cluster;

  @Option(names = "--adapter", defaultValue = "default") String adapter;

  @Option(names = "--to", required = true, paramLabel = "VERSION",
      description = "The checkpoint version to release.") long version;

  @Option(names = "--reason", description = "Why, for the history (default: released by hand).")
  String reason;

  @Override
  public Integer call() {
    Map<String, String> client = cluster.client();
    Checkpoint checkpoint;
    try (CheckpointReader reader = CheckpointReader.open(cluster.bootstrap,
        cluster.registryConfig(client), cluster.checkpoints, cluster.kafka(client))) {
      Optional<Checkpoint> found = reader.version(adapter, version);
      if (found.isEmpty()) {
        System.err.printf("error: checkpoint v%d of adapter %s is not complete on %s (never"
            + " written, cut short, or deleted by the topic's retention); nothing released%n",
            version, adapter, cluster.checkpoints);
        return 1;
      }
      checkpoint = found.get();
    }
    Optional<AdapterRelease> current;
    try (ReleaseLog releases = ReleaseLog.open(cluster.bootstrap, cluster.registryConfig(client),
        cluster.releases, cluster.kafka(client))) {
      current = releases.current(adapter);
    }
    if (current.isPresent() && current.get().getVersion() == version) {
      System.out.printf("%s v%d is already the release; nothing written%n", adapter, version);
      return 0;
    }
    Map<String, Double> metrics = new LinkedHashMap<>();
    checkpoint.manifest().getMetrics().forEach((k, v) -> {
      if (k.equals("eval_loss") || k.equals("retention_loss")) {
        metrics.put(k, v); // the gate's fallback when this checkpoint is gone some day
      }
    });
    AdapterRelease release = Releases.next(current, adapter, version, ReleaseDecision.MANUAL,
        reason != null ? reason : "released by hand (trainer-service release --to " + version
            + ")", metrics, Instant.now());
    // The same path as the trainer's releases: the adapter's partition, in a transaction.
    try (SchemaRegistryClient registry = new SchemaRegistryClient(cluster.registryConfig(client));
        KafkaProducer<String, Object> producer = CheckpointPublisher.producer(cluster.bootstrap,
            cluster.kafka(client), registry, "sft-release-" + adapter + "-" + UUID.randomUUID(),
            1024)) {
      producer.initTransactions();
      producer.beginTransaction();
      new CheckpointPublisher(producer, cluster.checkpoints, cluster.releases).send(release);
      producer.commitTransaction();
    } catch (org.apache.kafka.common.KafkaException e) {
      throw new IllegalStateException("writing the release to " + cluster.releases + " failed: "
          + e.getMessage(), e);
    }
    System.out.printf("released %s v%d%s: %s%n", adapter, version,
        current.map(c -> " (replaces v" + c.getVersion() + ")").orElse(""), release.getReason());
    return 0;
  }
}
