package io.continualsft.trainer.config;

import io.continualsft.chat.labels.AllowedAdapters;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Which adapter learns by which objective ({@code objective}): one word for every adapter
 * ({@code sft} or {@code kto}), or comma-separated {@code PATTERN=WORD} entries, patterns as in
 * {@code adapters.allowed}, the first that matches deciding ({@code support-*=kto, *=sft}); an
 * adapter no entry matches learns by SFT. Kept as words here, so the settings do not depend on
 * the training code; the service maps them to its objectives.
 */
public final class AdapterObjectives {
  /** The objectives, as the setting writes them. */
  public enum Kind {
    SFT("sft"), KTO("kto");

    private final String word;

    Kind(String word) {
      this.word = word;
    }

    public String word() {
      return word;
    }

    static Kind of(String word) {
      for (Kind k : values()) {
        if (k.word.equals(word)) {
          return k;
        }
      }
      throw new IllegalArgumentException("\"" + word + "\" is not an objective: sft or kto");
    }
  }

  /** Every adapter learns by SFT (the default). */
  public static final AdapterObjectives SFT = parse("sft");

  private record Entry(String pattern, AllowedAdapters matcher, Kind kind) {}

  private final List<Entry> entries;

  private AdapterObjectives(List<Entry> entries) {
    this.entries = List.copyOf(entries);
  }

  /**
   * Parses the setting.
   *
   * @throws IllegalArgumentException naming the entry that is wrong
   */
  public static AdapterObjectives parse(String spec) {
    List<Entry> entries = new ArrayList<>();
    String[] parts = spec.split(",", -1);
    for (String raw : parts) {
      String entry = raw.strip();
      int eq = entry.indexOf('=');
      if (eq < 0) {
        if (parts.length > 1) {
          throw new IllegalArgumentException("\"" + entry + "\": with more than one entry each"
              + " is PATTERN=sft or PATTERN=kto");
        }
        entries.add(new Entry("*", AllowedAdapters.ANY, Kind.of(entry)));
        continue;
      }
      String pattern = entry.substring(0, eq).strip();
      if (pattern.contains(",") || pattern.isEmpty()) {
        throw new IllegalArgumentException("\"" + entry + "\" names no adapter pattern");
      }
      entries.add(new Entry(pattern, AllowedAdapters.parse(pattern),
          Kind.of(entry.substring(eq + 1).strip())));
    }
    return new AdapterObjectives(entries);
  }

  /** The objective of adapter {@code name}. */
  public Kind of(String name) {
    for (Entry e : entries) {
      if (e.matcher().allows(name)) {
        return e.kind();
      }
    }
    return Kind.SFT;
  }

  /**
   * The objectives an adapter of this trainer may have: {@code adapter}'s alone, or with {@code
   * adapter.id=*} every objective some name could get (SFT too unless an entry matches all).
   */
  public Set<Kind> possible(String adapter, boolean everyAdapter) {
    if (!everyAdapter) {
      return Set.of(of(adapter));
    }
    Set<Kind> kinds = new LinkedHashSet<>();
    for (Entry e : entries) {
      kinds.add(e.kind());
      if (e.matcher().allowsAny()) {
        return kinds;
      }
    }
    kinds.add(Kind.SFT);
    return kinds;
  }

  @Override
  public String toString() {
    if (entries.size() == 1 && entries.get(0).pattern().equals("*")) {
      return entries.get(0).kind().word();
    }
    return String.join(",", entries.stream().map(e -> e.pattern() + "=" + e.kind().word())
        .toList());
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof AdapterObjectives other && other.toString().equals(toString());
  }

  @Override
  public int hashCode() {
    return toString().hashCode();
  }
}
