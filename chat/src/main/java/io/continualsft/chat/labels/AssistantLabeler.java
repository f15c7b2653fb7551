package io.continualsft.chat.labels;

import io.continualsft.avro.RejectionReason;
import io.continualsft.chat.format.ChatModel;
import io.continualsft.chat.format.ChatTokenizer;
import io.continualsft.chat.template.TemplateException;
import io.continualsft.chat.template.TemplateRaisedException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Renders a conversation with the model's chat template, tokenizes the render once, and labels
 * it by the {@link LabelContract}: {@code labels[i] = ids[i]} for tokens whose character span
 * overlaps a trained assistant turn, {@code -100} everywhere else.
 *
 * <p>A trained turn's span starts where {@code render(messages[:i], add_generation_prompt=True)}
 * ends and runs through the turn's end-of-turn token; the newline after it is not trained. That
 * prefix render is usually a prefix of the full render. When it is not (a template that renders
 * earlier turns differently once later ones exist), the turn is found by its generation header
 * instead: the k-th occurrence of the header for the k-th assistant turn. Either way the turn's
 * content must then appear in the span, or the conversation is rejected
 * (ASSISTANT_SPAN_NOT_FOUND) rather than labelled by a guess.
 */
public final class AssistantLabeler {
  /** The result: ids and labels of equal length, and counts for metrics. */
  public record Labeled(int[] inputIds, int[] labels, int trainedTokens, int renderedChars,
      boolean truncated) {}

  private final ChatModel model;
  private final LabelingSettings settings;
  private final ConversationValidator validator;
  private final String endOfTurn;

  public AssistantLabeler(ChatModel model, LabelingSettings settings) {
    this.model = model;
    this.settings = settings;
    this.validator = new ConversationValidator(settings, model.specialTokens());
    this.endOfTurn = settings.endOfTurnToken() != null ? settings.endOfTurnToken()
        : model.detectEndOfTurn();
  }

  /** The text that closes an assistant turn in this template ({@code <|im_end|>}, ...). */
  public String endOfTurnToken() {
    return endOfTurn;
  }

  /**
   * Whether the assistant turn at {@code index} is trained: its own {@code train} flag when set,
   * else the policy (every assistant turn, or only the last, at {@code lastAssistant}). The one
   * statement of the rule; the streams app's feedback join asks it before labelling.
   */
  public static boolean trains(Boolean flag, int index, int lastAssistant,
      LabelingSettings.TrainPolicy policy) {
    return flag != null ? flag
        : policy == LabelingSettings.TrainPolicy.ALL || index == lastAssistant;
  }

  /** Labels an Avro {@code Conversation}: its messages (with their train flags) and tools. */
  public Labeled label(io.continualsft.avro.Conversation conversation) throws RejectedException {
    List<ChatMessage> messages = new ArrayList<>(conversation.getMessages().size());
    for (io.continualsft.avro.Message m : conversation.getMessages()) {
      messages.add(ChatMessage.from(m));
    }
    return label(messages, conversation.getTools());
  }

  public Labeled label(List<ChatMessage> messages, String toolsJson) throws RejectedException {
    Object tools = validator.validate(messages, toolsJson);
    List<Map<String, Object>> chat = templateMessages(messages, model.toolArguments());
    String full = render(chat, tools, false);

    List<int[]> spans = new ArrayList<>();
    List<int[]> excluded = new ArrayList<>();
    int lastAssistant = -1;
    for (int i = 0; i < messages.size(); i++) {
      if (messages.get(i).role().equals("assistant")) {
        lastAssistant = i;
      }
    }
    int assistantsBefore = 0;
    int previousEnd = 0;
    for (int i = 0; i < messages.size(); i++) {
      ChatMessage m = messages.get(i);
      if (!m.role().equals("assistant")) {
        continue;
      }
      if (trains(m.train(), i, lastAssistant, settings.policy())) {
        // A turn that calls tools is checked by its span alone: templates print the calls in
        // their own syntax, and some drop the content beside them (Llama 3.1) or the calls
        // beside content (DeepSeek-V3), as transformers' render does too.
        int[] span = findSpan(full, chat, tools, i, assistantsBefore, previousEnd,
            m.hasToolCalls() ? null : m.content());
        previousEnd = span[1];
        spans.add(span);
        if (settings.reasoning() == LabelingSettings.Reasoning.EXCLUDE
            && m.reasoning() != null && !m.reasoning().isEmpty()) {
          int[] reasoning = reasoningSpan(full, chat, tools, i, span);
          if (reasoning != null) {
            excluded.add(reasoning);
          }
        }
      }
      assistantsBefore++;
    }

    ChatTokenizer.Tokens tokens = model.tokenizer().encode(full);
    int n = tokens.size();
    boolean truncated = false;
    if (n > settings.maxLength()) {
      if (settings.truncation() == LabelingSettings.Truncation.DROP) {
        throw new RejectedException(RejectionReason.TOO_MANY_TOKENS, "the rendered conversation"
            + " has " + n + " tokens; max-length is " + settings.maxLength()
            + " and truncation is drop");
      }
      n = settings.maxLength();
      truncated = true;
    }
    int[] ids = Arrays.copyOf(tokens.ids(), n);
    int[] labels = new int[n];
    int trainedTokens = 0;
    for (int t = 0; t < n; t++) {
      // A token carrying any character of left-out reasoning is not trained, even where it also
      // carries the tag after it (Qwen3 merges the reasoning's last "." with the newline).
      boolean trained = overlapsAny(tokens.starts()[t], tokens.ends()[t], spans)
          && !overlapsAny(tokens.starts()[t], tokens.ends()[t], excluded);
      labels[t] = LabelContract.label(ids[t], trained);
      trainedTokens += trained ? 1 : 0;
    }
    if (trainedTokens == 0) {
      throw new RejectedException(RejectionReason.NO_TRAINED_TOKENS, truncated
          ? "no trained token is left within the first " + settings.maxLength() + " tokens"
          : "no assistant token is trained (every assistant turn is excluded by the policy or"
              + " its train flag)");
    }
    return new Labeled(ids, labels, trainedTokens, full.length(), truncated);
  }

  /** Whether the token spanning characters [s, e) overlaps a trained span (empty: starts in it). */
  private static boolean overlapsAny(int s, int e, List<int[]> spans) {
    for (int[] span : spans) {
      if (e > s ? s < span[1] && e > span[0] : s >= span[0] && s < span[1]) {
        return true;
      }
    }
    return false;
  }

  private int[] findSpan(String full, List<Map<String, Object>> chat, Object tools, int i,
      int assistantsBefore, int notBefore, String content) throws RejectedException {
    String prefix = render(chat.subList(0, i), tools, true);
    int start;
    if (full.startsWith(prefix)) {
      start = prefix.length();
    } else {
      start = byGenerationHeader(full, chat, tools, i, assistantsBefore, prefix);
    }
    if (start < notBefore) {
      throw new RejectedException(RejectionReason.ASSISTANT_SPAN_NOT_FOUND, "assistant message "
          + i + " would start inside the previous trained turn");
    }
    int contentEnd = start; // a turn that calls tools is checked by its span alone
    if (content != null) {
      String needle = visibleContent(content);
      int at = full.indexOf(needle, start);
      int eotBeforeContent = full.indexOf(endOfTurn, start);
      if (at < 0 || (eotBeforeContent >= 0 && eotBeforeContent < at)) {
        throw new RejectedException(RejectionReason.ASSISTANT_SPAN_NOT_FOUND, "the content of"
            + " assistant message " + i + " does not appear in the render where its turn"
            + " starts; the template rewrites it in a way the labeler cannot follow");
      }
      contentEnd = at + needle.length();
    }
    int eot = full.indexOf(endOfTurn, contentEnd);
    if (eot < 0) {
      throw new RejectedException(RejectionReason.ASSISTANT_SPAN_NOT_FOUND, "assistant message "
          + i + " is not followed by the end-of-turn token " + endOfTurn + " in the render");
    }
    return new int[] {start, eot + endOfTurn.length()};
  }

  /**
   * What turn i's reasoning adds to the render, or null where the template does not print it:
   * the render without message i's {@code reasoning_content} is compared with the full one, and
   * the characters between their common prefix and common suffix are the reasoning's. That holds
   * whatever the template prints around it (Qwen3 prints empty think tags on the last turn either
   * way, and the tags only with reasoning on earlier ones), and is empty where the template drops
   * the reasoning.
   */
  private int[] reasoningSpan(String full, List<Map<String, Object>> chat, Object tools,
      int i, int[] span) throws RejectedException {
    List<Map<String, Object>> without = new ArrayList<>(chat);
    Map<String, Object> message = new LinkedHashMap<>(chat.get(i));
    message.remove("reasoning_content");
    without.set(i, message);
    String other = render(without, tools, false);
    int limit = Math.min(full.length(), other.length());
    int prefix = 0;
    while (prefix < limit && full.charAt(prefix) == other.charAt(prefix)) {
      prefix++;
    }
    int suffix = 0;
    while (suffix < limit - prefix && full.charAt(full.length() - 1 - suffix)
        == other.charAt(other.length() - 1 - suffix)) {
      suffix++;
    }
    int from = prefix;
    int to = full.length() - suffix;
    if (from >= to) {
      return null; // the template does not print this turn's reasoning
    }
    if (from < span[0] || to > span[1]) {
      throw new RejectedException(RejectionReason.ASSISTANT_SPAN_NOT_FOUND, "the reasoning of"
          + " assistant message " + i + " changes the render outside its turn, so it cannot be"
          + " left out of the labels");
    }
    return new int[] {from, to};
  }

  /**
   * Locates turn i when the prefix render is not a prefix of the full render: isolate the
   * generation header (what add_generation_prompt appends) and take its occurrence for this turn.
   */
  private int byGenerationHeader(String full, List<Map<String, Object>> chat, Object tools, int i,
      int assistantsBefore, String prefixWithHeader) throws RejectedException {
    String prefixWithout = render(chat.subList(0, i), tools, false);
    if (!prefixWithHeader.startsWith(prefixWithout)
        || prefixWithHeader.length() == prefixWithout.length()) {
      throw new RejectedException(RejectionReason.ASSISTANT_SPAN_NOT_FOUND, "render(messages[:"
          + i + "], add_generation_prompt=True) is not a prefix of the full render and the"
          + " template's generation header cannot be isolated");
    }
    String header = prefixWithHeader.substring(prefixWithout.length());
    int at = -1;
    for (int k = 0; k <= assistantsBefore; k++) {
      at = full.indexOf(header, at + 1);
      if (at < 0) {
        throw new RejectedException(RejectionReason.ASSISTANT_SPAN_NOT_FOUND, "the generation"
            + " header of assistant message " + i + " does not appear in the full render");
      }
    }
    return at + header.length();
  }

  /**
   * The part of an assistant message that a template prints verbatim: stripped (templates often
   * trim), and for a reasoning message the answer after its last {@code </think>}, which some
   * templates keep while dropping the reasoning.
   */
  private static String visibleContent(String content) {
    String visible = content;
    int think = visible.lastIndexOf("</think>");
    if (think >= 0 && !visible.substring(think + "</think>".length()).isBlank()) {
      visible = visible.substring(think + "</think>".length());
    }
    return visible.strip();
  }

  private String render(List<Map<String, Object>> chat, Object tools, boolean generationPrompt)
      throws RejectedException {
    try {
      return model.render(chat, tools, generationPrompt);
    } catch (TemplateRaisedException e) {
      throw new RejectedException(RejectionReason.TEMPLATE_REFUSED,
          "the chat template refused it: " + e.templateMessage());
    } catch (TemplateException e) {
      throw new RejectedException(RejectionReason.TEMPLATE_REFUSED,
          "the chat template failed on it: " + e.getMessage());
    }
  }

  /**
   * The messages as transformers hands them to the template: a dict per turn with {@code role}
   * and {@code content} (None for a call-only turn), and the optional keys only when set,
   * since templates test for them ({@code 'tool_calls' in message}, {@code is defined}):
   * {@code reasoning_content}, {@code tool_calls} (each {@code {id?, type, function: {name,
   * arguments}}} with the arguments parsed, or as their text where the template takes text:
   * {@link ChatModel#toolArguments}), {@code tool_call_id}, {@code name}.
   */
  public static List<Map<String, Object>> templateMessages(List<ChatMessage> messages,
      ChatModel.ToolArguments arguments) throws RejectedException {
    List<Map<String, Object>> chat = new ArrayList<>(messages.size());
    for (int i = 0; i < messages.size(); i++) {
      ChatMessage m = messages.get(i);
      Map<String, Object> message = new LinkedHashMap<>();
      message.put("role", m.role());
      message.put("content", m.content());
      if (m.reasoning() != null) {
        message.put("reasoning_content", m.reasoning());
      }
      if (m.toolCalls() != null) {
        List<Map<String, Object>> calls = new ArrayList<>(m.toolCalls().size());
        for (int c = 0; c < m.toolCalls().size(); c++) {
          ChatMessage.Call call = m.toolCalls().get(c);
          Map<String, Object> function = new LinkedHashMap<>();
          function.put("name", call.name());
          Map<String, Object> parsed = ConversationValidator.parseArguments(call.arguments(),
              "tool call " + c + " of message " + i + "'s arguments");
          function.put("arguments", arguments == ChatModel.ToolArguments.TEXT ? call.arguments()
              : parsed);
          Map<String, Object> entry = new LinkedHashMap<>();
          if (call.id() != null) {
            entry.put("id", call.id());
          }
          entry.put("type", call.type());
          entry.put("function", function);
          calls.add(entry);
        }
        message.put("tool_calls", calls);
      }
      if (m.toolCallId() != null) {
        message.put("tool_call_id", m.toolCallId());
      }
      if (m.name() != null) {
        message.put("name", m.name());
      }
      chat.add(message);
    }
    return chat;
  }

}
