package io.continualsft.chat.labels;

import io.continualsft.avro.RejectionReason;
import java.util.regex.Pattern;

/**
 * What a conversation id and an adapter name may be. Both become record keys, state-store keys,
 * log fields and (adapters) metric tags and directory names, so both are bounded, and an adapter
 * name is a plain word: no path separators, no spaces, nothing a file system or a Prometheus
 * label would mangle.
 */
public final class Identifiers {
  /** The longest conversation id, in UTF-16 chars. */
  public static final int MAX_ID_CHARS = 256;
  /** Letters, digits, {@code .}, {@code _} and {@code -}, starting with a letter or digit. */
  public static final Pattern ADAPTER = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

  private Identifiers() {}

  public static void check(String conversationId, String adapter) throws RejectedException {
    checkOpaque("conversation id", conversationId);
    if (!ADAPTER.matcher(adapter).matches()) {
      String shown = adapter.length() > 70 ? adapter.substring(0, 64) + "..." : adapter;
      throw new RejectedException(RejectionReason.INVALID_ID, "the adapter name \""
          + shown.replace("\"", "\\\"") + "\" (" + adapter.length() + " characters) is not 1-64"
          + " letters, digits, '.', '_' or '-' starting with a letter or digit");
    }
  }

  /** A conversation id alone (feedback names one without an adapter). */
  public static void checkConversationId(String conversationId) throws RejectedException {
    checkOpaque("conversation id", conversationId);
  }

  /**
   * A data subject (null: none). It keys erasure requests and lineage entries, so it is bounded
   * as a conversation id is.
   */
  public static void checkSubject(String subject) throws RejectedException {
    if (subject != null) {
      checkOpaque("subject", subject);
    }
  }

  private static void checkOpaque(String what, String value) throws RejectedException {
    if (value.isEmpty() || value.isBlank()) {
      throw new RejectedException(RejectionReason.INVALID_ID, "the " + what + " is empty");
    }
    if (value.length() > MAX_ID_CHARS) {
      throw new RejectedException(RejectionReason.INVALID_ID, "the " + what + " has "
          + value.length() + " characters; at most " + MAX_ID_CHARS + " are allowed");
    }
    String problem = ConversationValidator.firstInvalidCharacter(value, true);
    if (problem != null) {
      throw new RejectedException(RejectionReason.INVALID_ID, "the " + what + " contains "
          + problem + "; control characters and lone surrogates are not allowed");
    }
  }
}
