package io.continualsft.trainer.cli;

import io.continualsft.avro.CheckpointManifest;
import io.continualsft.trainer.checkpoint.CheckpointReader;
import io.continualsft.trainer.erasure.Lineages;
import java.util.Map;
import java.util.SortedMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Which conversations trained a version; which versions a data subject reached. */
@Command(name = "lineage", mixinStandardHelpOptions = true,
    description = "With --adapter A --version N: the conversations that trained version N (new"
        + " and replayed), each with the version of its chain that trained it. With --subject S:"
        + " every version of every adapter whose lineage holds S, and whether it is revoked."
        + " Read from the manifests on the checkpoint topic (docs/erasure.md).")
final class LineageCommand implements Callable<Integer> {
  @Mixin ClusterOptions cluster;

  @Option(names = "--adapter", description = "The adapter (with --version; with --subject: only"
      + " this one).") String adapter;

  @Option(names = "--version", description = "The checkpoint version.") Long version;

  @Option(names = "--subject", description = "The data subject.") String subject;

  @Override
  public Integer call() {
    if ((subject == null) == (version == null) || (version != null && adapter == null)) {
      System.err.println("error: give --adapter A --version N, or --subject S [--adapter A]");
      return 2;
    }
    Map<String, String> client = cluster.client();
    try (CheckpointReader reader = CheckpointReader.open(cluster.bootstrap,
        cluster.registryConfig(client), cluster.checkpoints, cluster.kafka(client))) {
      if (version != null) {
        SortedMap<Long, CheckpointManifest> manifests = reader.manifests(adapter,
            Integer.MAX_VALUE);
        if (!manifests.containsKey(version)) {
          System.err.printf("error: %s has no checkpoint v%d on %s%n", adapter, version,
              cluster.checkpoints);
          return 1;
        }
        Long by = Lineages.revoked(manifests).get(version);
        System.out.printf("%s v%d%s%n", adapter, version, by == null ? ""
            : " (revoked by v" + by + ": " + manifests.get(by).getRevokeReason() + ")");
        System.out.printf("%-9s %-40s %-24s %8s %9s%n", "trained", "conversation", "subject",
            "as new", "replayed");
        for (Lineages.Trained t : Lineages.of(manifests, version)) {
          System.out.printf("%-9s %-40s %-24s %8d %9d%n", "v" + t.version(),
              t.entry().getConversationId(), t.entry().getSubject() == null ? "-"
                  : t.entry().getSubject(), t.entry().getTrained(), t.entry().getReplayed());
        }
        return 0;
      }
      SortedMap<String, SortedMap<Long, CheckpointManifest>> all = reader.allManifests();
      int reached = 0;
      System.out.printf("%-24s %-9s %-14s %s%n", "adapter", "version", "first trained", "status");
      for (var e : all.entrySet()) {
        if (adapter != null && !adapter.equals(e.getKey())) {
          continue;
        }
        SortedMap<Long, Long> revoked = Lineages.revoked(e.getValue());
        for (var r : Lineages.reachedBy(e.getValue(), subject).entrySet()) {
          Long by = revoked.get(r.getKey());
          System.out.printf("%-24s %-9s %-14s %s%n", e.getKey(), "v" + r.getKey(),
              "in v" + r.getValue(), by == null ? "NOT REVOKED (an erasure is pending, or"
                  + " none was asked)" : "revoked by v" + by);
          reached++;
        }
      }
      System.out.printf("%d versions reached by subject %s%n", reached, subject);
      return 0;
    }
  }
}
