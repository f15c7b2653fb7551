package io.continualsft.chat.labels;

import io.continualsft.avro.RejectionReason;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Which adapters may exist ({@code adapters.allowed}): adapter names and glob patterns ({@code *}
 * any run of characters, {@code ?} one), separated by commas; {@code *} alone allows every name
 * {@link Identifiers#ADAPTER} accepts. The streams app refuses an example of another adapter
 * before it reaches the examples topic, and the trainer, which also reads records that never
 * passed the streams app, refuses it again: a producer cannot create an adapter by naming it.
 */
public final class AllowedAdapters {
  /** Letters, digits, {@code .}, {@code _}, {@code -}, and the wildcards. */
  private static final Pattern ENTRY = Pattern.compile("[A-Za-z0-9._*?-]{1,64}");

  /** Every valid adapter name. */
  public static final AllowedAdapters ANY = parse("*");

  private final String spec;
  private final List<Pattern> patterns;

  private AllowedAdapters(String spec, List<Pattern> patterns) {
    this.spec = spec;
    this.patterns = patterns;
  }

  /**
   * Parses {@code adapters.allowed}.
   *
   * @throws IllegalArgumentException naming the entry that is not a name or pattern
   */
  public static AllowedAdapters parse(String spec) {
    List<Pattern> patterns = new ArrayList<>();
    List<String> entries = new ArrayList<>();
    for (String raw : spec.split(",", -1)) {
      String entry = raw.strip();
      if (entry.isEmpty()) {
        if (spec.isBlank()) {
          break; // nothing allowed: an explicit choice, e.g. while an incident is handled
        }
        throw new IllegalArgumentException("an empty entry in \"" + spec + "\"");
      }
      if (!ENTRY.matcher(entry).matches()) {
        throw new IllegalArgumentException("\"" + entry + "\" is not an adapter name or a"
            + " pattern of 1-64 letters, digits, '.', '_', '-', '*' and '?'");
      }
      entries.add(entry);
      patterns.add(glob(entry));
    }
    return new AllowedAdapters(String.join(",", entries), List.copyOf(patterns));
  }

  private static Pattern glob(String entry) {
    StringBuilder regex = new StringBuilder();
    for (char c : entry.toCharArray()) {
      switch (c) {
        case '*' -> regex.append(".*");
        case '?' -> regex.append('.');
        default -> regex.append(Pattern.quote(String.valueOf(c)));
      }
    }
    return Pattern.compile(regex.toString());
  }

  /** Whether {@code adapter}, a valid name ({@link Identifiers}), is allowed. */
  public boolean allows(String adapter) {
    for (Pattern p : patterns) {
      if (p.matcher(adapter).matches()) {
        return true;
      }
    }
    return false;
  }

  /** Whether every valid name is allowed (the default). */
  public boolean allowsAny() {
    return patterns.stream().anyMatch(p -> p.pattern().equals(".*"));
  }

  /** Refuses {@code adapter} when it is not allowed: ADAPTER_NOT_ALLOWED, naming the setting. */
  public void check(String adapter) throws RejectedException {
    if (!allows(adapter)) {
      throw new RejectedException(RejectionReason.ADAPTER_NOT_ALLOWED, "adapter \"" + adapter
          + "\" is not in adapters.allowed (" + (spec.isEmpty() ? "empty" : spec) + ")");
    }
  }

  /**
   * The streams app's rule for a record's names, which the trainer applies again: the
   * conversation id and the adapter name well-formed ({@link Identifiers}), and the adapter
   * allowed.
   */
  public void check(String conversationId, String adapter) throws RejectedException {
    Identifiers.check(conversationId, adapter);
    check(adapter);
  }

  /** As {@link #check(String, String)}, with the data subject well-formed too (null: none). */
  public void check(String conversationId, String adapter, String subject)
      throws RejectedException {
    check(conversationId, adapter);
    Identifiers.checkSubject(subject);
  }

  /** The setting's value, as it would be written. */
  @Override
  public String toString() {
    return spec;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof AllowedAdapters other && other.spec.equals(spec);
  }

  @Override
  public int hashCode() {
    return spec.hashCode();
  }
}
