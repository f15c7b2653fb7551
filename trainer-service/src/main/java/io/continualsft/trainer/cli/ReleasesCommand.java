package io.continualsft.trainer.cli;

import io.continualsft.avro.AdapterRelease;
import io.continualsft.avro.PastRelease;
import io.continualsft.trainer.release.ReleaseLog;
import io.continualsft.trainer.release.Releases;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The release history of an adapter, newest first. */
@Command(name = "releases", mixinStandardHelpOptions = true,
    description = "Prints the release history of an adapter, newest first: version, the version"
        + " it replaced, how it was released, when, and why; and a hold, when one is set.")
final class ReleasesCommand implements Callable<Integer> {
  @Mixin ClusterOptions cluster;

  @Option(names = "--adapter", defaultValue = "default") String adapter;

  @Override
  public Integer call() {
    Map<String, String> client = cluster.client();
    Optional<AdapterRelease> current;
    try (ReleaseLog releases = ReleaseLog.open(cluster.bootstrap, cluster.registryConfig(client),
        cluster.releases, cluster.kafka(client))) {
      current = releases.current(adapter);
    }
    if (current.isEmpty()) {
      System.out.printf("%s has no release on %s%n", adapter, cluster.releases);
      return 0;
    }
    if (current.get().getHold() != null) {
      System.out.printf("HELD at v%d since %s: %s (the trainer releases nothing; `release"
          + " --resume` lifts it)%n%n", current.get().getVersion(), current.get().getHold()
          .getSince(), current.get().getHold().getReason());
    }
    if (!current.get().getRevoked().isEmpty()) {
      System.out.printf("revoked by erasure (never released or pulled again): %s%n%n",
          current.get().getRevoked().stream().map(v -> "v" + v).toList());
    }
    System.out.printf("%-8s %-9s %-11s %-24s %s%n", "version", "replaces", "decision",
        "released at", "reason");
    for (PastRelease r : Releases.history(current.get())) {
      System.out.printf("%-8s %-9s %-11s %-24s %s%n", "v" + r.getVersion(),
          r.getReplaces() == null ? "-" : "v" + r.getReplaces(), r.getDecision(),
          r.getReleasedAt(), r.getReason());
    }
    return 0;
  }
}
