package io.continualsft.trainer.release;

import io.continualsft.avro.AdapterRelease;
import io.continualsft.avro.PastRelease;
import io.continualsft.avro.ReleaseDecision;
import io.continualsft.avro.ReleaseHold;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Building the next release record of an adapter from the current one. */
public final class Releases {
  /** Past releases each record carries; older ones are dropped. */
  public static final int MAX_HISTORY = 100;

  private Releases() {}

  /**
   * The release of {@code version} after {@code current}: it replaces the current version and
   * carries the current release (without its history) in front of the history before it.
   */
  public static AdapterRelease next(Optional<AdapterRelease> current, String adapter,
      long version, ReleaseDecision decision, String reason, Map<String, Double> metrics,
      Instant at) {
    List<PastRelease> history = new ArrayList<>();
    current.ifPresent(c -> {
      history.add(past(c));
      history.addAll(c.getHistory());
    });
    while (history.size() > MAX_HISTORY) {
      history.removeLast();
    }
    return AdapterRelease.newBuilder()
        .setAdapter(adapter)
        .setVersion(version)
        .setReplaces(current.map(AdapterRelease::getVersion).orElse(null))
        .setDecision(decision)
        .setReason(reason)
        .setMetrics(new LinkedHashMap<>(metrics))
        .setReleasedAt(at.truncatedTo(java.time.temporal.ChronoUnit.MILLIS))
        .setRevoked(current.map(AdapterRelease::getRevoked).orElse(List.of()))
        .setHistory(history)
        .build();
  }

  /**
   * The release record after {@code revoked} versions of {@code adapter} were revoked by an
   * erasure: the current release with the revoked list grown, when it is not revoked itself;
   * else a REVOKED release of the newest earlier release that is not revoked (version 0 when
   * none is: serving loads nothing), keeping an operator's hold. Empty when nothing changes.
   */
  public static Optional<AdapterRelease> revoke(Optional<AdapterRelease> current, String adapter,
      java.util.Collection<Long> revoked, String reason, Instant at) {
    return revoke(current, adapter, revoked, reason, at, v -> true);
  }

  /**
   * As above, falling back only to a release whose checkpoint {@code exists} (a forged release
   * in the history, of a version that was never a checkpoint, is passed over).
   */
  public static Optional<AdapterRelease> revoke(Optional<AdapterRelease> current, String adapter,
      java.util.Collection<Long> revoked, String reason, Instant at,
      java.util.function.LongPredicate exists) {
    java.util.TreeSet<Long> all = new java.util.TreeSet<>(revoked);
    current.ifPresent(c -> all.addAll(c.getRevoked()));
    if (current.isPresent() && all.equals(new java.util.TreeSet<>(current.get().getRevoked()))) {
      return Optional.empty();
    }
    if (current.isPresent() && !all.contains(current.get().getVersion())) {
      return Optional.of(AdapterRelease.newBuilder(current.get())
          .setRevoked(List.copyOf(all)).build());
    }
    long fallback = current.map(c -> history(c).stream().map(PastRelease::getVersion)
        .filter(v -> v > 0 && !all.contains(v) && exists.test(v)).findFirst().orElse(0L))
        .orElse(0L);
    AdapterRelease next = AdapterRelease.newBuilder(next(current, adapter, fallback,
        ReleaseDecision.REVOKED, (fallback == 0 ? "no release is left that is not revoked;"
            + " serving none" : "back to v" + fallback) + " (" + reason + ")", Map.of(), at))
        .setRevoked(List.copyOf(all))
        .setHold(current.map(AdapterRelease::getHold).orElse(null))
        .build();
    return Optional.of(next);
  }

  /** Whether {@code version} was revoked, as the current release records. */
  public static boolean isRevoked(Optional<AdapterRelease> current, long version) {
    return current.isPresent() && current.get().getRevoked().contains(version);
  }

  /**
   * {@code current} held: the same release (version, history) with a hold, so that the trainer
   * releases no candidate until {@link #resume}. A rollback that holds is {@link #next} of the
   * older version, then this.
   */
  public static AdapterRelease hold(AdapterRelease current, String reason, Instant at) {
    return AdapterRelease.newBuilder(current)
        .setHold(new ReleaseHold(at.truncatedTo(java.time.temporal.ChronoUnit.MILLIS), reason))
        .build();
  }

  /** {@code current} without its hold: the release policy decides again. */
  public static AdapterRelease resume(AdapterRelease current) {
    return AdapterRelease.newBuilder(current).setHold(null).build();
  }

  /** Every release of the adapter, newest first: {@code current}, then its history. */
  public static List<PastRelease> history(AdapterRelease current) {
    List<PastRelease> all = new ArrayList<>();
    all.add(past(current));
    all.addAll(current.getHistory());
    return all;
  }

  private static PastRelease past(AdapterRelease r) {
    return PastRelease.newBuilder()
        .setVersion(r.getVersion())
        .setReplaces(r.getReplaces())
        .setDecision(r.getDecision())
        .setReason(r.getReason())
        .setMetrics(new LinkedHashMap<>(r.getMetrics()))
        .setReleasedAt(r.getReleasedAt())
        .build();
  }
}
