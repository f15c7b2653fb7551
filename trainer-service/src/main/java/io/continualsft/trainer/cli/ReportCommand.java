package io.continualsft.trainer.cli;

import io.continualsft.avro.AdapterRelease;
import io.continualsft.avro.CheckpointManifest;
import io.continualsft.avro.PastRelease;
import io.continualsft.avro.Rejection;
import io.continualsft.schemas.SftTopics;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.trainer.checkpoint.CheckpointReader;
import io.continualsft.trainer.checkpoint.SkippingDeserializer;
import io.continualsft.trainer.release.ReleaseLog;
import io.continualsft.trainer.release.Releases;
import io.continualsft.trainer.report.RunReport;
import io.continualsft.trainer.report.RunReportHtml;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** An adapter's run report from a cluster's topics: checkpoints, releases, dead letters. */
@Command(name = "report", mixinStandardHelpOptions = true,
    description = "Writes an adapter's report, one self-contained HTML file, from the cluster:"
        + " the training loss, held-out and retention loss of each checkpoint with the versions"
        + " released (and why) and held, new against replayed examples, throughput between"
        + " checkpoints, and the dead letters by reason.")
final class ReportCommand implements Callable<Integer> {
  /** Manifests drawn at most (the newest); a report of more would not be read. */
  static final int MAX_CHECKPOINTS = 10_000;

  @Mixin ClusterOptions cluster;

  @Option(names = "--adapter", defaultValue = "default") String adapter;

  @Option(names = "--out", description = "The HTML file (default: report-ADAPTER.html).")
  Path out;

  @Option(names = "--dead-letter-topics", split = ",", defaultValue = SftTopics.CONVERSATIONS_DLQ
      + "," + SftTopics.EXAMPLES_DLQ, description = "Dead-letter topics to count by reason, all"
      + " adapters' (default: ${DEFAULT-VALUE}).")
  List<String> deadLetterTopics;

  @Override
  public Integer call() {
    Map<String, String> client = cluster.client();
    SortedMap<Long, CheckpointManifest> manifests;
    try (CheckpointReader reader = CheckpointReader.open(cluster.bootstrap,
        cluster.registryConfig(client), cluster.checkpoints, cluster.kafka(client))) {
      manifests = reader.manifests(adapter, MAX_CHECKPOINTS);
    }
    if (manifests.isEmpty()) {
      System.err.printf("error: adapter %s has no checkpoint on %s; nothing to report%n", adapter,
          cluster.checkpoints);
      return 1;
    }
    Optional<AdapterRelease> current;
    try (ReleaseLog releases = ReleaseLog.open(cluster.bootstrap, cluster.registryConfig(client),
        cluster.releases, cluster.kafka(client))) {
      current = releases.current(adapter);
    }
    // Each version's latest release decision (a version released twice: its newest reason).
    Map<Long, PastRelease> released = new LinkedHashMap<>();
    current.ifPresent(c -> {
      for (PastRelease r : Releases.history(c)) {
        released.putIfAbsent(r.getVersion(), r);
      }
    });
    List<RunReport.Step> steps = new ArrayList<>();
    List<RunReport.Checkpoint> checkpoints = new ArrayList<>();
    CheckpointManifest previous = null;
    for (Map.Entry<Long, CheckpointManifest> e : manifests.entrySet()) {
      CheckpointManifest m = e.getValue();
      Map<String, Double> metrics = m.getMetrics();
      double throughput = Double.NaN;
      if (previous != null) {
        double seconds = Duration.between(previous.getCreatedAt(), m.getCreatedAt()).toMillis()
            / 1000.0;
        throughput = seconds > 0 ? (m.getTokensTrained() - previous.getTokensTrained())
            / seconds : Double.NaN;
      }
      steps.add(new RunReport.Step(m.getStep(), metrics.getOrDefault("train_loss", Double.NaN),
          throughput));
      PastRelease r = released.get(e.getKey());
      boolean held = current.isPresent() && current.get().getHold() != null
          && current.get().getVersion() == e.getKey();
      RunReport.Decision decision = held ? RunReport.Decision.HELD : r != null
          ? RunReport.Decision.RELEASED : RunReport.Decision.NOT_JUDGED;
      String reason = held ? "held since " + current.get().getHold().getSince() + ": "
          + current.get().getHold().getReason() : r != null ? r.getDecision() + ": "
          + r.getReason() : "not released (the trainer's log says why)";
      checkpoints.add(new RunReport.Checkpoint("v" + e.getKey(), m.getStep(),
          metrics.getOrDefault("eval_loss", Double.NaN),
          metrics.getOrDefault("retention_loss", Double.NaN), decision, reason,
          m.getExamplesTrained(), metrics.getOrDefault("examples_replayed", 0.0).longValue()));
      previous = m;
    }
    Map<String, Long> dead = deadLetters(client);
    CheckpointManifest last = manifests.get(manifests.lastKey());
    RunReport report = new RunReport("Adapter " + adapter, List.of(
        "from " + cluster.checkpoints + " and " + cluster.releases + " on " + cluster.bootstrap
            + ", " + Instant.now(),
        "base model " + last.getBaseModel() + ", LoRA r=" + last.getLora().getR() + " on "
            + last.getLora().getTargetModules(),
        manifests.size() + " checkpoints, v" + manifests.firstKey() + " to v"
            + manifests.lastKey() + "; released now: " + current.map(c -> "v" + c.getVersion()
                + (c.getHold() != null ? " (held)" : "")).orElse("none"),
        "training loss and throughput: one point per checkpoint (the topics keep checkpoints,"
            + " not steps); dead letters: every adapter's, on " + deadLetterTopics),
        steps, checkpoints, dead);
    Path written = RunReportHtml.write(report, out != null ? out
        : Path.of("report-" + adapter + ".html"));
    System.out.printf("report of %s (%d checkpoints): %s%n", adapter, manifests.size(),
        written.toAbsolutePath());
    return 0;
  }

  /** Every dead letter on the topics, by reason, read to the end with read_committed. */
  private Map<String, Long> deadLetters(Map<String, String> client) {
    Map<String, Long> byReason = new TreeMap<>();
    Map<String, Object> config = CheckpointReader.consumerConfig(cluster.bootstrap,
        cluster.kafka(client));
    config.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 2000);
    try (SchemaRegistryClient registry = new SchemaRegistryClient(cluster.registryConfig(client));
        KafkaConsumer<String, Rejection> consumer = new KafkaConsumer<>(config,
            new StringDeserializer(), new SkippingDeserializer<>(AvroDeserializer.specific(
                Rejection.class, registry)))) {
      for (String topic : deadLetterTopics) {
        List<TopicPartition> tps = consumer.partitionsFor(topic).stream()
            .map(p -> new TopicPartition(topic, p.partition())).toList();
        if (tps.isEmpty()) {
          continue;
        }
        consumer.assign(tps);
        consumer.seekToBeginning(tps);
        Map<TopicPartition, Long> end = consumer.endOffsets(tps);
        Instant deadline = Instant.now().plusSeconds(60);
        while (tps.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))
            && Instant.now().isBefore(deadline)) {
          consumer.poll(Duration.ofMillis(500)).forEach(r -> {
            if (r.value() != null) {
              byReason.merge(r.value().getReason().name(), 1L, Long::sum);
            }
          });
        }
      }
    }
    return byReason;
  }
}
