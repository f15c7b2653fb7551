package io.continualsft.chat.labels;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.continualsft.avro.RejectionReason;
import java.util.List;
import java.util.Set;

/**
 * The checks that need no template: structure, roles, characters and sizes. Each failure names
 * the message index and what was wrong. Checks run in a fixed order, so a conversation with
 * several problems always reports the same one.
 */
public final class ConversationValidator {
  public static final Set<String> ROLES = Set.of("system", "user", "assistant", "tool");
  /** Tool definitions nest a JSON schema or two; nothing legitimate is deeper than this. */
  static final int MAX_TOOLS_DEPTH = 64;

  private static final ObjectMapper JSON = new ObjectMapper(JsonFactory.builder()
      .streamReadConstraints(StreamReadConstraints.builder()
          .maxNestingDepth(MAX_TOOLS_DEPTH).build())
      .build());

  private final LabelingSettings settings;
  private final Set<String> specialTokens;

  public ConversationValidator(LabelingSettings settings, Set<String> specialTokens) {
    this.settings = settings;
    this.specialTokens = specialTokens;
  }

  /** Returns the parsed tools (a JSON array as Java lists and maps), or null when absent. */
  public Object validate(List<ChatMessage> messages, String toolsJson) throws RejectedException {
    if (messages.isEmpty()) {
      throw new RejectedException(RejectionReason.NO_MESSAGES, "the conversation has no messages");
    }
    if (messages.size() > settings.maxTurns()) {
      throw new RejectedException(RejectionReason.TOO_MANY_TURNS, "the conversation has "
          + messages.size() + " messages; max-turns is " + settings.maxTurns());
    }
    boolean anyAssistant = false;
    for (int i = 0; i < messages.size(); i++) {
      ChatMessage m = messages.get(i);
      if (!ROLES.contains(m.role())) {
        throw new RejectedException(RejectionReason.UNKNOWN_ROLE, "unknown role \""
            + printable(m.role()) + "\" at message " + i + "; expected one of system, user,"
            + " assistant, tool");
      }
      if (m.role().equals("system") && i > 0) {
        throw new RejectedException(RejectionReason.SYSTEM_NOT_FIRST,
            "system message at index " + i + "; a system message may only be the first");
      }
      if (Boolean.TRUE.equals(m.train()) && !m.role().equals("assistant")) {
        throw new RejectedException(RejectionReason.TRAIN_FLAG_NOT_ASSISTANT, "message " + i
            + " (" + m.role() + ") has train=true; only assistant messages are trained");
      }
      checkText(m.content(), "message " + i, RejectionReason.CONTENT_TOO_LONG);
      if (m.role().equals("assistant")) {
        anyAssistant = true;
        if (m.content().isBlank()) {
          throw new RejectedException(RejectionReason.EMPTY_ASSISTANT_MESSAGE,
              "assistant message " + i + " is empty or whitespace only");
        }
      }
    }
    if (!anyAssistant) {
      throw new RejectedException(RejectionReason.NO_ASSISTANT_MESSAGE,
          "the conversation has no assistant message, so nothing would be trained");
    }
    if (toolsJson == null) {
      return null;
    }
    // The tool definitions reach the rendered text like content does, so they are held to the
    // same rules: characters, size, and no special tokens that could forge a turn.
    checkText(toolsJson, "tools", RejectionReason.INVALID_TOOLS);
    return parseTools(toolsJson);
  }

  /** The checks every text a producer controls gets: characters, length, special tokens. */
  private void checkText(String text, String where, RejectionReason tooLong)
      throws RejectedException {
    checkCharacters(text, where);
    if (text.length() > settings.maxContentChars()) {
      throw new RejectedException(tooLong, where + " has " + text.length()
          + " characters; max-content-chars is " + settings.maxContentChars());
    }
    if (!settings.allowSpecialTokensInContent()) {
      String found = null;
      int foundAt = Integer.MAX_VALUE;
      for (String token : specialTokens) { // report the first in the text, whatever the set order
        int at = text.indexOf(token);
        if (at >= 0 && (at < foundAt || (at == foundAt && token.length() > found.length()))) {
          found = token;
          foundAt = at;
        }
      }
      if (found != null) {
        throw new RejectedException(RejectionReason.SPECIAL_TOKEN_IN_CONTENT, where
            + " contains the special token " + found + " as text at offset " + foundAt
            + "; it would be tokenized as the real token and could forge a turn");
      }
    }
  }

  private static void checkCharacters(String content, String where) throws RejectedException {
    String problem = firstInvalidCharacter(content, false);
    if (problem != null) {
      throw new RejectedException(RejectionReason.INVALID_CHARACTERS, where + " contains "
          + problem);
    }
  }

  /**
   * The first character of {@code text} no producer may send, described with its offset ("a NUL
   * character at offset 3"), or null when there is none: a NUL, a lone surrogate, and with
   * {@code anyControl} every other control character too.
   */
  static String firstInvalidCharacter(String text, boolean anyControl) {
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == 0) {
        return "a NUL character at offset " + i;
      }
      if (anyControl && Character.isISOControl(c)) {
        return String.format("the character U+%04X at offset %d", (int) c, i);
      }
      if (Character.isHighSurrogate(c)) {
        if (i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
          i++;
          continue;
        }
        return "a lone high surrogate at offset " + i;
      }
      if (Character.isLowSurrogate(c)) {
        return "a lone low surrogate at offset " + i;
      }
    }
    return null;
  }

  private static Object parseTools(String toolsJson) throws RejectedException {
    JsonNode tree;
    try {
      tree = JSON.readTree(toolsJson);
    } catch (JsonProcessingException e) {
      throw new RejectedException(RejectionReason.INVALID_TOOLS,
          "tools is not valid JSON: " + e.getOriginalMessage());
    }
    if (tree == null || !tree.isArray()) {
      throw new RejectedException(RejectionReason.INVALID_TOOLS,
          "tools must be a JSON array of tool definitions");
    }
    return JSON.convertValue(tree, List.class);
  }

  private static String printable(String s) {
    String cut = s.length() > 40 ? s.substring(0, 40) + "..." : s;
    return cut.replace("\n", "\\n").replace("\"", "\\\"");
  }
}
