package io.continualsft.trainer.erasure;

import io.continualsft.avro.LineageEntry;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The conversations trained into an adapter since its last checkpoint, new and replayed, each
 * once with its counts, in the order first trained: what the next checkpoint's manifest records
 * as its lineage (the rest is its parent's).
 */
public final class Lineage {
  private final Map<String, LineageEntry> entries = new LinkedHashMap<>();

  /** A conversation's example trained as new. */
  public void trained(String conversationId, String subject) {
    entry(conversationId, subject).setTrained(entry(conversationId, subject).getTrained() + 1);
  }

  /** A conversation's example drawn back by replay. */
  public void replayed(String conversationId, String subject) {
    entry(conversationId, subject).setReplayed(entry(conversationId, subject).getReplayed() + 1);
  }

  private LineageEntry entry(String conversationId, String subject) {
    return entries.computeIfAbsent(conversationId, id -> new LineageEntry(id, subject, 0, 0));
  }

  /** Whether any entry is erased by {@code erasures}. */
  public boolean touchedBy(Erasures erasures) {
    return touchedBy(List.copyOf(entries.values()), erasures);
  }

  /** Whether any of {@code entries} is erased by {@code erasures}. */
  public static boolean touchedBy(List<LineageEntry> entries, Erasures erasures) {
    for (LineageEntry e : entries) {
      if (erasures.erases(e.getConversationId(), e.getSubject())) {
        return true;
      }
    }
    return false;
  }

  /** How many conversations. */
  public int size() {
    return entries.size();
  }

  /** The entries, copied, for a manifest. */
  public List<LineageEntry> entries() {
    return entries.values().stream().map(e -> LineageEntry.newBuilder(e).build()).toList();
  }

  public void clear() {
    entries.clear();
  }
}
