package io.continualsft.chat.dataset;

import com.fasterxml.jackson.databind.JsonNode;
import io.continualsft.avro.FunctionCall;
import io.continualsft.avro.Message;
import io.continualsft.avro.ToolCall;
import io.continualsft.chat.template.JinjaTemplate;
import io.continualsft.schemas.Fingerprints;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns one dataset record, in any {@link DatasetFormat}, into a conversation. The mapping is
 * literal: text is never trimmed, joined only where a format splits one turn (Alpaca's
 * instruction and input, OpenAI's text parts), and anything it cannot carry faithfully (an image
 * part, an unknown ShareGPT speaker, a reply cut off by its length limit) makes the record
 * invalid with the reason, rather than being dropped from it.
 *
 * <p>The tool fields are carried as they come; whether they make sense (arguments a JSON object,
 * a result answering an earlier call) is the labeler's check, so a bad one is dead-lettered or
 * reported with the same reason wherever it enters.
 */
public final class DatasetRecords {
  /** JSON values to Java maps, lists and scalars, keys in written order. */
  private static final com.fasterxml.jackson.databind.ObjectMapper JSON_VALUES =
      new com.fasterxml.jackson.databind.ObjectMapper();

  private DatasetRecords() {}

  public static ImportedConversation convert(JsonNode node, DatasetFormat format)
      throws InvalidRecordException {
    DatasetFormat shape = format == DatasetFormat.AUTO ? detect(node) : format;
    return switch (shape) {
      case CONVERSATIONS -> roleContent(node, "conversations");
      case MESSAGES -> roleContent(node, "messages");
      case SHAREGPT -> shareGpt(node);
      case OPENAI -> openAi(node);
      case ALPACA -> alpaca(node);
      case AUTO -> throw new IllegalStateException();
    };
  }

  /** The format a record's fields say it is in. */
  public static DatasetFormat detect(JsonNode node) throws InvalidRecordException {
    if (node.has("messages")) {
      return DatasetFormat.MESSAGES;
    }
    if (node.has("request") && node.has("response")) {
      return DatasetFormat.OPENAI;
    }
    JsonNode conversations = node.get("conversations");
    if (conversations != null && conversations.isArray()) {
      for (JsonNode turn : conversations) {
        if (turn.has("from")) {
          return DatasetFormat.SHAREGPT;
        }
      }
      return DatasetFormat.CONVERSATIONS;
    }
    if (node.has("instruction") && node.has("output")) {
      return DatasetFormat.ALPACA;
    }
    throw new InvalidRecordException("not a known format: no \"messages\", \"conversations\","
        + " \"request\"/\"response\" or \"instruction\"/\"output\" field");
  }

  /** The seed tutorial's shape and Hugging Face's: role and content, plus the tool fields. */
  private static ImportedConversation roleContent(JsonNode node, String key)
      throws InvalidRecordException {
    JsonNode turns = node.get(key);
    if (turns == null || !turns.isArray()) {
      throw new InvalidRecordException("no \"" + key + "\" array");
    }
    List<Message> messages = new ArrayList<>(turns.size());
    for (int i = 0; i < turns.size(); i++) {
      messages.add(message(turns.get(i), i, false));
    }
    String tools = tools(node.get("tools"));
    return finish(node, messages, tools, contentId(turns.toString() + (tools == null ? ""
        : tools)));
  }

  /**
   * One turn in OpenAI's and Hugging Face's message shape. {@code openAi} also accepts what only
   * OpenAI logs carry: text parts for content and the {@code developer} role.
   */
  private static Message message(JsonNode t, int i, boolean openAi)
      throws InvalidRecordException {
    if (t == null || !t.isObject()) {
      throw new InvalidRecordException("message " + i + " is not a JSON object");
    }
    if (!t.path("role").isTextual()) {
      throw new InvalidRecordException("message " + i + " needs a string \"role\"");
    }
    String role = t.get("role").asText();
    if (openAi && role.equals("developer")) {
      role = "system"; // OpenAI's newer name for the system turn
    }
    Message.Builder m = Message.newBuilder().setRole(role)
        .setContent(content(t.get("content"), i, openAi));
    JsonNode train = t.get("train");
    if (train != null && !train.isNull()) {
      if (!train.isBoolean()) {
        throw new InvalidRecordException("message " + i + "'s \"train\" must be true or false");
      }
      m.setTrain(train.asBoolean());
    }
    m.setReasoning(optionalText(t, i, "reasoning_content", "reasoning"));
    JsonNode calls = t.get("tool_calls");
    if (calls != null && !calls.isNull()) {
      if (!calls.isArray()) {
        throw new InvalidRecordException("message " + i + "'s \"tool_calls\" is not an array");
      }
      List<ToolCall> out = new ArrayList<>(calls.size());
      for (int c = 0; c < calls.size(); c++) {
        out.add(toolCall(calls.get(c), "tool call " + c + " of message " + i));
      }
      m.setToolCalls(out);
    }
    m.setToolCallId(optionalText(t, i, "tool_call_id"));
    m.setName(optionalText(t, i, "name"));
    return m.build();
  }

  private static String content(JsonNode content, int i, boolean openAi)
      throws InvalidRecordException {
    if (content == null || content.isNull()) {
      return null;
    }
    if (content.isTextual()) {
      return content.asText();
    }
    if (openAi && content.isArray()) {
      // OpenAI's content parts: text parts are the turn's text, in order.
      StringBuilder text = new StringBuilder();
      for (JsonNode part : content) {
        String type = part.path("type").asText("");
        if (!type.equals("text") || !part.path("text").isTextual()) {
          throw new InvalidRecordException("message " + i + " has a \"" + type + "\" content"
              + " part; only text is trained");
        }
        text.append(part.get("text").asText());
      }
      return text.toString();
    }
    throw new InvalidRecordException("message " + i + "'s \"content\" must be a string or"
        + " null");
  }

  /**
   * A call in OpenAI's shape {@code {id, type, function: {name, arguments}}}, or the flat
   * {@code {name, arguments}} some datasets use. Arguments given as a string are kept verbatim;
   * given as a JSON value, as the text a template's {@code tojson} prints of it ({@code
   * json.dumps(value, ensure_ascii=False)}: Python's spacing), which is what a template that
   * takes the arguments as text then renders (DeepSeek-V3's), and what transformers renders for
   * the same value passed through {@code json.dumps}.
   */
  private static ToolCall toolCall(JsonNode call, String where) throws InvalidRecordException {
    if (call == null || !call.isObject()) {
      throw new InvalidRecordException(where + " is not a JSON object");
    }
    JsonNode function = call.has("function") ? call.get("function") : call;
    if (!function.path("name").isTextual()) {
      throw new InvalidRecordException(where + " needs a string function \"name\"");
    }
    JsonNode arguments = function.get("arguments");
    if (arguments == null || arguments.isNull()) {
      throw new InvalidRecordException(where + " has no \"arguments\"");
    }
    JsonNode id = call.get("id");
    JsonNode type = call.get("type");
    return ToolCall.newBuilder()
        .setId(id == null || id.isNull() ? null : id.asText())
        .setType(type == null || type.isNull() ? "function" : type.asText())
        .setFunction(new FunctionCall(function.get("name").asText(),
            arguments.isTextual() ? arguments.asText() : JinjaTemplate.toJson(
                JSON_VALUES.convertValue(arguments, Object.class))))
        .build();
  }

  /**
   * ShareGPT: {@code from}/{@code value} turns. Speakers: human/user, gpt/assistant/model,
   * system, tool/observation/function_response, and function_call (an assistant turn calling
   * the tool its value names: {@code {"name", "arguments"}} or a list of them). A top-level
   * {@code system} string becomes the first turn; {@code tools} is carried.
   */
  private static ImportedConversation shareGpt(JsonNode node) throws InvalidRecordException {
    JsonNode turns = node.get("conversations");
    if (turns == null || !turns.isArray()) {
      throw new InvalidRecordException("not ShareGPT: no \"conversations\" array");
    }
    List<Message> messages = new ArrayList<>(turns.size() + 1);
    if (node.path("system").isTextual()) {
      messages.add(Message.newBuilder().setRole("system").setContent(node.get("system").asText())
          .build());
    }
    for (int i = 0; i < turns.size(); i++) {
      JsonNode t = turns.get(i);
      if (!t.path("from").isTextual() || !t.path("value").isTextual()) {
        throw new InvalidRecordException("turn " + i + " needs string \"from\" and \"value\"");
      }
      String from = t.get("from").asText();
      String value = t.get("value").asText();
      Message.Builder m = Message.newBuilder();
      switch (from) {
        case "human", "user" -> m.setRole("user").setContent(value);
        case "gpt", "assistant", "model" -> m.setRole("assistant").setContent(value);
        case "system" -> m.setRole("system").setContent(value);
        case "tool", "observation", "function_response" -> m.setRole("tool").setContent(value);
        case "function_call" -> {
          JsonNode call;
          try {
            call = DatasetFile.parseRecordOrArray(value);
          } catch (InvalidRecordException e) {
            throw new InvalidRecordException("turn " + i + " (function_call) is " + e.getMessage());
          }
          List<ToolCall> calls = new ArrayList<>();
          if (call.isArray()) {
            for (int c = 0; c < call.size(); c++) {
              calls.add(toolCall(call.get(c), "call " + c + " of turn " + i));
            }
          } else {
            calls.add(toolCall(call, "the call of turn " + i));
          }
          m.setRole("assistant").setContent("").setToolCalls(calls);
        }
        default -> throw new InvalidRecordException("turn " + i + " is from \""
            + (from.length() > 40 ? from.substring(0, 40) + "..." : from) + "\"; ShareGPT"
            + " speakers are human, gpt, system, tool, observation and function_call");
      }
      JsonNode weight = t.get("weight");
      if (weight != null && weight.isNumber() && from.matches("gpt|assistant|model")) {
        m.setTrain(weight.asDouble() != 0); // ShareGPT's per-turn loss weight, 0 or 1
      }
      messages.add(m.build());
    }
    JsonNode toolsNode = node.get("tools");
    String tools;
    if (toolsNode != null && toolsNode.isTextual()) {
      tools = toolsNode.asText().isBlank() ? null : toolsNode.asText(); // LLaMA-Factory's text
    } else {
      tools = tools(toolsNode);
    }
    return finish(node, messages, tools, contentId(node.toString()));
  }

  /**
   * An OpenAI chat-completion log: the request's messages and tools, then the response's first
   * choice as the last assistant turn. The response is the completion object or, as the Batch
   * API writes it, {@code {"status_code", "body": completion}}.
   */
  private static ImportedConversation openAi(JsonNode node) throws InvalidRecordException {
    JsonNode request = node.get("request");
    JsonNode response = node.get("response");
    if (request == null || !request.isObject() || response == null || !response.isObject()) {
      throw new InvalidRecordException("not an OpenAI log: needs \"request\" and \"response\""
          + " objects");
    }
    if (request.has("body") && request.get("body").isObject()) {
      request = request.get("body");
    }
    if (response.has("status_code") && response.get("status_code").asInt() != 200) {
      throw new InvalidRecordException("the response failed (status_code "
          + response.get("status_code").asText() + ")");
    }
    if (response.has("body") && response.get("body").isObject()) {
      response = response.get("body");
    }
    JsonNode turns = request.get("messages");
    if (turns == null || !turns.isArray()) {
      throw new InvalidRecordException("the request has no \"messages\" array");
    }
    JsonNode choices = response.get("choices");
    if (choices == null || !choices.isArray() || choices.isEmpty()) {
      throw new InvalidRecordException("the response has no choices");
    }
    JsonNode choice = choices.get(0);
    String finish = choice.path("finish_reason").asText("");
    if (finish.equals("length") || finish.equals("content_filter")) {
      throw new InvalidRecordException("the reply was cut off (finish_reason " + finish
          + "); trained, it would teach the model to stop mid-reply");
    }
    List<Message> messages = new ArrayList<>(turns.size() + 1);
    for (int i = 0; i < turns.size(); i++) {
      messages.add(message(turns.get(i), i, true));
    }
    Message reply = message(choice.get("message"), turns.size(), true);
    if (!reply.getRole().equals("assistant")) {
      throw new InvalidRecordException("the response's message has role \"" + reply.getRole()
          + "\", not assistant");
    }
    messages.add(reply);
    String tools = tools(request.get("tools"));
    String id = node.path("custom_id").isTextual() ? node.get("custom_id").asText()
        : response.path("id").isTextual() ? response.get("id").asText() : null;
    Map<String, String> metadata = new LinkedHashMap<>();
    if (request.path("model").isTextual()) {
      metadata.put("model", request.get("model").asText());
    }
    return finish(node, messages, tools, id != null ? id : contentId(node.toString()), metadata);
  }

  /**
   * Alpaca: the instruction, then the input after a newline when there is one, as the user turn
   * (LLaMA-Factory's joining); the output as the assistant's. Optional {@code system}, and
   * {@code history} as earlier [instruction, output] pairs.
   */
  private static ImportedConversation alpaca(JsonNode node) throws InvalidRecordException {
    if (!node.path("instruction").isTextual() || !node.path("output").isTextual()) {
      throw new InvalidRecordException("not Alpaca: needs string \"instruction\" and"
          + " \"output\"");
    }
    List<Message> messages = new ArrayList<>();
    if (node.path("system").isTextual() && !node.get("system").asText().isEmpty()) {
      messages.add(Message.newBuilder().setRole("system").setContent(node.get("system").asText())
          .build());
    }
    JsonNode history = node.get("history");
    if (history != null && !history.isNull()) {
      if (!history.isArray()) {
        throw new InvalidRecordException("\"history\" must be a list of [instruction, output]");
      }
      for (int h = 0; h < history.size(); h++) {
        JsonNode pair = history.get(h);
        if (!pair.isArray() || pair.size() != 2 || !pair.get(0).isTextual()
            || !pair.get(1).isTextual()) {
          throw new InvalidRecordException("history entry " + h + " must be [instruction,"
              + " output], two strings");
        }
        messages.add(Message.newBuilder().setRole("user").setContent(pair.get(0).asText())
            .build());
        messages.add(Message.newBuilder().setRole("assistant").setContent(pair.get(1).asText())
            .build());
      }
    }
    String user = node.get("instruction").asText();
    JsonNode input = node.get("input");
    if (input != null && !input.isNull()) {
      if (!input.isTextual()) {
        throw new InvalidRecordException("\"input\" must be a string");
      }
      if (!input.asText().isEmpty()) {
        user = user + "\n" + input.asText();
      }
    }
    messages.add(Message.newBuilder().setRole("user").setContent(user).build());
    messages.add(Message.newBuilder().setRole("assistant").setContent(node.get("output").asText())
        .build());
    return finish(node, messages, null, contentId(node.toString()));
  }

  private static String optionalText(JsonNode t, int i, String... keys)
      throws InvalidRecordException {
    for (String key : keys) {
      JsonNode v = t.get(key);
      if (v != null && !v.isNull()) {
        if (!v.isTextual()) {
          throw new InvalidRecordException("message " + i + "'s \"" + key + "\" must be a"
              + " string");
        }
        return v.asText();
      }
    }
    return null;
  }

  private static String tools(JsonNode tools) {
    return tools == null || tools.isNull() ? null : tools.toString();
  }

  private static ImportedConversation finish(JsonNode node, List<Message> messages, String tools,
      String fallbackId) throws InvalidRecordException {
    return finish(node, messages, tools, fallbackId, null);
  }

  private static ImportedConversation finish(JsonNode node, List<Message> messages, String tools,
      String fallbackId, Map<String, String> extraMetadata) throws InvalidRecordException {
    JsonNode idNode = node.get("id");
    String id = idNode != null && (idNode.isTextual() || idNode.isIntegralNumber())
        ? idNode.asText() : fallbackId;
    String adapter = node.path("adapter").isTextual() ? node.get("adapter").asText() : null;
    Map<String, String> metadata = null;
    if (node.path("metadata").isObject()) {
      metadata = new LinkedHashMap<>();
      for (var e : node.get("metadata").properties()) {
        metadata.put(e.getKey(), e.getValue().isTextual() ? e.getValue().asText()
            : e.getValue().toString());
      }
    }
    if (extraMetadata != null && !extraMetadata.isEmpty()) {
      if (metadata == null) {
        metadata = new LinkedHashMap<>();
      }
      for (var e : extraMetadata.entrySet()) {
        metadata.putIfAbsent(e.getKey(), e.getValue());
      }
    }
    return new ImportedConversation(id, messages, tools, adapter, metadata,
        subject(node, "subject"));
  }

  /**
   * The data subject a record names in its top-level {@code field} (a string, or a whole number
   * as its text), or null when it has none; any other value is refused by name.
   */
  public static String subject(JsonNode node, String field) throws InvalidRecordException {
    JsonNode v = node.get(field);
    if (v == null || v.isNull()) {
      return null;
    }
    if (!v.isTextual() && !v.isIntegralNumber()) {
      throw new InvalidRecordException("\"" + field + "\" (the data subject) must be a string");
    }
    return v.asText();
  }

  /** A stable id for a record without one: sha256 of its conversation, 32 hex digits. */
  static String contentId(String content) {
    return Fingerprints.sha256(content.getBytes(StandardCharsets.UTF_8)).substring(0, 32);
  }
}
