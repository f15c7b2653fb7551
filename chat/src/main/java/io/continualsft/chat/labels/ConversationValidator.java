package io.continualsft.chat.labels;

import com.fasterxml.jackson.core.JsonProcessingException;
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
  private static final ObjectMapper JSON = new ObjectMapper();

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
      checkCharacters(m.content(), i);
      if (m.content().length() > settings.maxContentChars()) {
        throw new RejectedException(RejectionReason.CONTENT_TOO_LONG, "message " + i + " has "
            + m.content().length() + " characters; max-content-chars is "
            + settings.maxContentChars());
      }
      if (m.role().equals("assistant")) {
        anyAssistant = true;
        if (m.content().isBlank()) {
          throw new RejectedException(RejectionReason.EMPTY_ASSISTANT_MESSAGE,
              "assistant message " + i + " is empty or whitespace only");
        }
      }
      if (!settings.allowSpecialTokensInContent()) {
        String found = null;
        int foundAt = Integer.MAX_VALUE;
        for (String token : specialTokens) { // report the first in the text, whatever the set order
          int at = m.content().indexOf(token);
          if (at >= 0 && (at < foundAt || (at == foundAt && token.length() > found.length()))) {
            found = token;
            foundAt = at;
          }
        }
        if (found != null) {
          throw new RejectedException(RejectionReason.SPECIAL_TOKEN_IN_CONTENT, "message " + i
              + " contains the special token " + found + " as text at offset " + foundAt
              + "; it would be tokenized as the real token and could forge a turn");
        }
      }
    }
    if (!anyAssistant) {
      throw new RejectedException(RejectionReason.NO_ASSISTANT_MESSAGE,
          "the conversation has no assistant message, so nothing would be trained");
    }
    return parseTools(toolsJson);
  }

  private static void checkCharacters(String content, int index) throws RejectedException {
    for (int i = 0; i < content.length(); i++) {
      char c = content.charAt(i);
      if (c == 0) {
        throw new RejectedException(RejectionReason.INVALID_CHARACTERS,
            "message " + index + " contains a NUL character at offset " + i);
      }
      if (Character.isHighSurrogate(c)) {
        if (i + 1 < content.length() && Character.isLowSurrogate(content.charAt(i + 1))) {
          i++;
          continue;
        }
        throw new RejectedException(RejectionReason.INVALID_CHARACTERS,
            "message " + index + " contains a lone high surrogate at offset " + i);
      }
      if (Character.isLowSurrogate(c)) {
        throw new RejectedException(RejectionReason.INVALID_CHARACTERS,
            "message " + index + " contains a lone low surrogate at offset " + i);
      }
    }
  }

  private static Object parseTools(String toolsJson) throws RejectedException {
    if (toolsJson == null) {
      return null;
    }
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
