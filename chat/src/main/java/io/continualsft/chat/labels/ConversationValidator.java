package io.continualsft.chat.labels;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.continualsft.avro.RejectionReason;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
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
      .build())
      // json.loads refuses "{} x"; Jackson would read the object and ignore the rest.
      .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

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
    Set<String> callIds = new HashSet<>();
    for (int i = 0; i < messages.size(); i++) {
      ChatMessage m = messages.get(i);
      String where = "message " + i;
      if (!ROLES.contains(m.role())) {
        throw new RejectedException(RejectionReason.UNKNOWN_ROLE, "unknown role \""
            + printable(m.role()) + "\" at message " + i + "; expected one of system, user,"
            + " assistant, tool");
      }
      boolean assistant = m.role().equals("assistant");
      if (m.role().equals("system") && i > 0) {
        throw new RejectedException(RejectionReason.SYSTEM_NOT_FIRST,
            "system message at index " + i + "; a system message may only be the first");
      }
      if (Boolean.TRUE.equals(m.train()) && !assistant) {
        throw new RejectedException(RejectionReason.TRAIN_FLAG_NOT_ASSISTANT, "message " + i
            + " (" + m.role() + ") has train=true; only assistant messages are trained");
      }
      if (m.toolCalls() != null && !assistant) {
        throw new RejectedException(RejectionReason.TOOL_CALL_NOT_ASSISTANT, "message " + i
            + " (" + m.role() + ") has tool calls; only assistant messages call tools");
      }
      if (m.reasoning() != null && !assistant) {
        throw new RejectedException(RejectionReason.REASONING_NOT_ASSISTANT, "message " + i
            + " (" + m.role() + ") has reasoning; only assistant messages carry it");
      }
      if (m.toolCallId() != null && !m.role().equals("tool")) {
        throw new RejectedException(RejectionReason.INVALID_TOOL_CALL, "message " + i
            + " (" + m.role() + ") has a toolCallId; only tool messages answer a call");
      }
      if (m.content() == null) {
        if (!assistant) {
          throw new RejectedException(RejectionReason.CONTENT_MISSING, "message " + i + " ("
              + m.role() + ") has null content; only an assistant turn that calls tools may");
        }
        if (!m.hasToolCalls()) {
          throw new RejectedException(RejectionReason.EMPTY_ASSISTANT_MESSAGE, "assistant"
              + " message " + i + " has null content and no tool calls");
        }
      } else {
        checkText(m.content(), where, RejectionReason.CONTENT_TOO_LONG);
      }
      if (m.reasoning() != null) {
        checkText(m.reasoning(), where + "'s reasoning", RejectionReason.CONTENT_TOO_LONG);
      }
      if (m.name() != null) {
        checkText(m.name(), where + "'s name", RejectionReason.CONTENT_TOO_LONG);
      }
      if (assistant) {
        anyAssistant = true;
        if (!m.hasToolCalls() && m.content().isBlank()) {
          throw new RejectedException(RejectionReason.EMPTY_ASSISTANT_MESSAGE,
              "assistant message " + i + " is empty or whitespace only");
        }
        if (m.toolCalls() != null) {
          checkCalls(m, i, callIds);
        }
      }
      if (m.toolCallId() != null) {
        checkText(m.toolCallId(), where + "'s toolCallId", RejectionReason.CONTENT_TOO_LONG);
        if (!callIds.contains(m.toolCallId())) {
          throw new RejectedException(RejectionReason.TOOL_RESULT_WITHOUT_CALL, "tool message "
              + i + " answers the call \"" + printable(m.toolCallId()) + "\", which no earlier"
              + " assistant message makes");
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

  /** A turn's calls: bounded in number, well-formed, ids unique, arguments a JSON object. */
  private void checkCalls(ChatMessage m, int i, Set<String> callIds) throws RejectedException {
    if (m.toolCalls().size() > settings.maxTurns()) {
      throw new RejectedException(RejectionReason.TOO_MANY_TURNS, "assistant message " + i
          + " makes " + m.toolCalls().size() + " tool calls; max-turns (which also bounds the"
          + " calls of one turn) is " + settings.maxTurns());
    }
    for (int c = 0; c < m.toolCalls().size(); c++) {
      ChatMessage.Call call = m.toolCalls().get(c);
      String where = "tool call " + c + " of message " + i;
      if (!"function".equals(call.type())) {
        throw new RejectedException(RejectionReason.INVALID_TOOL_CALL, where + " has type \""
            + printable(String.valueOf(call.type())) + "\"; only function calls exist");
      }
      if (call.name() == null || call.name().isBlank()) {
        throw new RejectedException(RejectionReason.INVALID_TOOL_CALL, where
            + " has no function name");
      }
      checkText(call.name(), where + "'s name", RejectionReason.CONTENT_TOO_LONG);
      if (call.id() != null) {
        checkText(call.id(), where + "'s id", RejectionReason.CONTENT_TOO_LONG);
        if (!callIds.add(call.id())) {
          throw new RejectedException(RejectionReason.INVALID_TOOL_CALL, where + " repeats the"
              + " id \"" + printable(call.id()) + "\" of an earlier call");
        }
      }
      checkText(call.arguments(), where + "'s arguments", RejectionReason.CONTENT_TOO_LONG);
      parseArguments(call.arguments(), where + "'s arguments");
    }
  }

  /**
   * A call's arguments as the chat template receives them: the JSON object parsed into Java maps
   * and lists, keys in their written order, as {@code json.loads} gives transformers.
   */
  public static Map<String, Object> parseArguments(String json, String where)
      throws RejectedException {
    JsonNode tree;
    try {
      tree = JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new RejectedException(RejectionReason.TOOL_ARGUMENTS_NOT_OBJECT, where
          + " is not valid JSON: " + e.getOriginalMessage());
    }
    if (tree == null || !tree.isObject()) {
      throw new RejectedException(RejectionReason.TOOL_ARGUMENTS_NOT_OBJECT, where
          + " must be a JSON object, got " + (tree == null ? "nothing"
              : tree.getNodeType().toString().toLowerCase(java.util.Locale.ROOT)));
    }
    @SuppressWarnings("unchecked")
    Map<String, Object> parsed = JSON.convertValue(tree, Map.class);
    return parsed;
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
