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

/** Rollback, or promotion by hand: release an existing candidate; hold releases, or resume. */
@Command(name = "release", mixinStandardHelpOptions = true,
    description = "Releases checkpoint VERSION of an adapter (a rollback, or a promotion the gate"
        + " refused) after checking that it is complete on the checkpoint topic; `pull` and"
        + " `pull --follow` then deliver it. With --hold the release is held: the trainer keeps"
        + " training and cutting candidates but releases none until `release --resume`.")
final class ReleaseCommand implements Callable<Integer> {
  @Mixin ClusterOptions cluster;

  @Option(names = "--adapter", defaultValue = "default") String adapter;

  @Option(names = "--to", paramLabel = "VERSION",
      description = "The checkpoint version to release.") Long version;

  @Option(names = "--hold", description = "Hold the release (the one --to writes, else the"
      + " current one): the trainer releases nothing until --resume, whatever its policy.")
  boolean hold;

  @Option(names = "--resume", description = "Lift a hold: the release policy decides again at"
      + " the next candidate.")
  boolean resume;

  @Option(names = "--reason", description = "Why, for the history and the hold (default: released"
      + " by hand / held by hand).")
  String reason;

  @Override
  public Integer call() {
    if (resume == (version != null || hold)) {
      System.err.println("error: give --to VERSION (optionally with --hold), --hold alone (to hold"
          + " the current release), or --resume");
      return 2;
    }
    Map<String, String> client = cluster.client();
    Optional<AdapterRelease> current;
    try (ReleaseLog releases = ReleaseLog.open(cluster.bootstrap, cluster.registryConfig(client),
        cluster.releases, cluster.kafka(client))) {
      current = releases.current(adapter);
    }
    Instant now = Instant.now();
    if (resume) {
      if (current.isEmpty() || current.get().getHold() == null) {
        System.out.printf("%s: no hold to lift%s; nothing written%n", adapter,
            current.map(c -> " (v" + c.getVersion() + " is released)").orElse(""));
        return 0;
      }
      write(client, Releases.resume(current.get()));
      System.out.printf("resumed %s: v%d stays released, and the release policy decides again at"
          + " the next candidate (held since %s: %s)%n", adapter, current.get().getVersion(),
          current.get().getHold().getSince(), current.get().getHold().getReason());
      return 0;
    }
    if (version != null && Releases.isRevoked(current, version)) {
      System.err.printf("error: v%d of %s is revoked: it trained on erased conversations"
          + " (docs/erasure.md); release a version that is not (revoked: %s)%n", version,
          adapter, current.get().getRevoked());
      return 1;
    }
    String holdReason = reason != null ? reason : "held by hand (trainer-service release --hold)";
    if (version == null || (current.isPresent() && current.get().getVersion() == version)) {
      if (current.isEmpty()) {
        System.err.printf("error: %s has no release on %s to hold; give --to VERSION%n", adapter,
            cluster.releases);
        return 1;
      }
      if (!hold) {
        System.out.printf("%s v%d is already the release%s; nothing written%n", adapter, version,
            current.get().getHold() != null ? " (held: `release --resume` lifts it)" : "");
        return 0;
      }
      write(client, Releases.hold(current.get(), holdReason, now));
      System.out.printf("held %s at v%d: the trainer releases nothing until `release --resume`"
          + " (%s)%n", adapter, current.get().getVersion(), holdReason);
      return 0;
    }
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
    Map<String, Double> metrics = new LinkedHashMap<>();
    checkpoint.manifest().getMetrics().forEach((k, v) -> {
      if (k.equals("eval_loss") || k.equals("retention_loss")) {
        metrics.put(k, v); // the gate's fallback when this checkpoint is gone some day
      }
    });
    AdapterRelease release = Releases.next(current, adapter, version, ReleaseDecision.MANUAL,
        reason != null ? reason : "released by hand (trainer-service release --to " + version
            + ")", metrics, now);
    if (hold) {
      release = Releases.hold(release, holdReason, now);
    }
    write(client, release);
    System.out.printf("released %s v%d%s%s: %s%n", adapter, version,
        current.map(c -> " (replaces v" + c.getVersion() + ")").orElse(""),
        hold ? ", held until `release --resume`" : "", release.getReason());
    return 0;
  }

  /** The same path as the trainer's releases: the adapter's partition, in a transaction. */
  private void write(Map<String, String> client, AdapterRelease release) {
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
  }
}
