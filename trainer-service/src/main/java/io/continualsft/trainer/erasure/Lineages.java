package io.continualsft.trainer.erasure;

import io.continualsft.avro.CheckpointManifest;
import io.continualsft.avro.LineageEntry;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Lineage read from an adapter's manifests: a version's lineage is its own entries and its
 * parent's lineage ({@link CheckpointManifest#getParentVersion()}), and a version is revoked when
 * a later one names it in {@code revokes}.
 */
public final class Lineages {
  private Lineages() {}

  /** One conversation's part in a version: which version of the chain trained it, how often. */
  public record Trained(long version, LineageEntry entry) {}

  /**
   * The conversations that trained {@code version}, newest version of the chain first; empty
   * when the version is not among {@code manifests}.
   */
  public static List<Trained> of(SortedMap<Long, CheckpointManifest> manifests, long version) {
    List<Trained> out = new ArrayList<>();
    for (long v : chain(manifests, version)) {
      for (LineageEntry e : manifests.get(v).getLineage()) {
        out.add(new Trained(v, e));
      }
    }
    return out;
  }

  /**
   * {@code version} and the versions it continued from, newest first, as far as {@code
   * manifests} hold them (a version written before lineage was kept ends the chain).
   */
  public static List<Long> chain(SortedMap<Long, CheckpointManifest> manifests, long version) {
    List<Long> chain = new ArrayList<>();
    for (Long v = version; v != null && manifests.containsKey(v) && !chain.contains(v);
        v = manifests.get(v).getParentVersion()) {
      chain.add(v);
    }
    return chain;
  }

  /** Per revoked version, the version that revoked it. */
  public static SortedMap<Long, Long> revoked(SortedMap<Long, CheckpointManifest> manifests) {
    SortedMap<Long, Long> out = new TreeMap<>();
    manifests.forEach((v, m) -> m.getRevokes().forEach(r -> out.putIfAbsent(r, v)));
    return out;
  }

  /**
   * The versions whose lineage holds {@code subject}, with the version of their chain where it
   * first trained, oldest first.
   */
  public static Map<Long, Long> reachedBy(SortedMap<Long, CheckpointManifest> manifests,
      String subject) {
    Map<Long, Long> out = new LinkedHashMap<>();
    for (long v : manifests.keySet()) {
      long first = -1;
      for (Trained t : of(manifests, v)) {
        if (subject.equals(t.entry().getSubject())) {
          first = t.version();
        }
      }
      if (first >= 0) {
        out.put(v, first);
      }
    }
    return out;
  }
}
