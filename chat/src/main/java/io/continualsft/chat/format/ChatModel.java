package io.continualsft.chat.format;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.continualsft.chat.template.JinjaTemplate;
import io.continualsft.chat.template.TemplateException;
import io.continualsft.schemas.Fingerprints;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What the streams app needs of a Hugging Face model directory: the chat template, the special
 * tokens the template may reference, the tokenizer, and fingerprints of both. Loading fails with a
 * {@link ModelDirectoryException} naming the file and what is wrong with it.
 */
public final class ChatModel implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Path directory;
  private final String templateSource;
  private final JinjaTemplate template;
  private final Map<String, Object> specialTokenVariables;
  private final Set<String> specialTokens;
  private final ChatTokenizer tokenizer;
  private final String tokenizerFingerprint;
  private final String templateFingerprint;
  private final Clock clock;
  private final ToolArguments toolArguments;

  /**
   * How a tool call's arguments reach this template. transformers passes whatever the caller
   * gives: most templates take the parsed object ({@code arguments | tojson}, or either form,
   * as Qwen3's tests {@code is string}), while some concatenate strings (DeepSeek-V3's {@code
   * '```json' + '\n' + tool['function']['arguments']}) and fail on an object, so their callers
   * pass the text, as OpenAI-style clients and logs carry it.
   */
  public enum ToolArguments {
    /** The JSON object, parsed (keys in written order), as {@code json.loads} gives it. */
    OBJECT,
    /** The arguments' JSON text, verbatim. */
    TEXT
  }

  private ChatModel(Path directory, String templateSource, JinjaTemplate template,
      Map<String, Object> specialTokenVariables, Set<String> specialTokens,
      ChatTokenizer tokenizer, String tokenizerFingerprint, Clock clock) {
    this.directory = directory;
    this.templateSource = templateSource;
    this.template = template;
    this.specialTokenVariables = specialTokenVariables;
    this.specialTokens = specialTokens;
    this.tokenizer = tokenizer;
    this.tokenizerFingerprint = tokenizerFingerprint;
    this.templateFingerprint = Fingerprints.sha256(templateSource.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    this.clock = clock;
    this.toolArguments = detectToolArguments();
  }

  /**
   * Loads {@code tokenizer.json}, {@code tokenizer_config.json} and the chat template from {@code
   * directory}. The template is {@code chat_template.jinja} when present (as transformers saves it
   * since 4.43), else {@code chat_template} of tokenizer_config.json: a string, or a list of
   * {@code {name, template}} from which {@code templateName} is taken.
   */
  public static ChatModel load(Path directory, String templateName, Clock clock) {
    if (!Files.isDirectory(directory)) {
      throw new ModelDirectoryException(directory, "not a directory");
    }
    Path tokenizerJson = directory.resolve("tokenizer.json");
    Path configFile = directory.resolve("tokenizer_config.json");
    Path jinjaFile = directory.resolve("chat_template.jinja");
    byte[] tokenizerBytes = read(tokenizerJson);
    JsonNode tokenizerTree = parse(tokenizerJson, tokenizerBytes);
    JsonNode config = Files.exists(configFile) ? parse(configFile, read(configFile))
        : JSON.createObjectNode();

    String source;
    if (Files.exists(jinjaFile)) {
      source = new String(read(jinjaFile), java.nio.charset.StandardCharsets.UTF_8);
    } else {
      JsonNode chatTemplate = config.get("chat_template");
      if (chatTemplate == null || chatTemplate.isNull()) {
        throw new ModelDirectoryException(directory,
            "no chat template: neither chat_template.jinja nor a chat_template in tokenizer_config.json");
      }
      source = pickTemplate(configFile, chatTemplate, templateName);
    }
    JinjaTemplate template;
    try {
      template = JinjaTemplate.compile(source);
    } catch (TemplateException e) {
      throw new ModelDirectoryException(Files.exists(jinjaFile) ? jinjaFile : configFile,
          "the chat template does not parse: " + e.getMessage(), e);
    }

    Map<String, Object> variables = new LinkedHashMap<>();
    for (String key : List.of("bos_token", "eos_token", "unk_token", "pad_token", "sep_token",
        "cls_token", "mask_token")) {
      String token = tokenText(config.get(key));
      if (token != null) { // transformers passes only the tokens that are set
        variables.put(key, token);
      }
    }
    JsonNode additional = config.get("additional_special_tokens");
    if (additional != null && additional.isArray()) {
      List<Object> list = new ArrayList<>();
      additional.forEach(t -> list.add(tokenText(t)));
      variables.put("additional_special_tokens", list);
    }

    Set<String> specials = new LinkedHashSet<>();
    JsonNode added = tokenizerTree.get("added_tokens");
    if (added != null) {
      added.forEach(t -> {
        if (t.path("special").asBoolean(false)) {
          specials.add(t.path("content").asText());
        }
      });
    }
    ChatTokenizer tokenizer = ChatTokenizer.load(tokenizerJson);
    return new ChatModel(directory, source, template, java.util.Collections.unmodifiableMap(variables),
        java.util.Collections.unmodifiableSet(specials),
        tokenizer, Fingerprints.sha256(tokenizerBytes), clock);
  }

  private static String pickTemplate(Path configFile, JsonNode chatTemplate, String name) {
    if (chatTemplate.isTextual()) {
      return chatTemplate.asText();
    }
    if (chatTemplate.isArray()) {
      List<String> names = new ArrayList<>();
      for (JsonNode entry : chatTemplate) {
        names.add(entry.path("name").asText());
        if (entry.path("name").asText().equals(name)) {
          return entry.path("template").asText();
        }
      }
      throw new ModelDirectoryException(configFile,
          "chat_template has no template named '" + name + "' (it has " + names + ")");
    }
    throw new ModelDirectoryException(configFile, "chat_template must be a string or a list");
  }

  private static String tokenText(JsonNode node) {
    if (node == null || node.isNull()) {
      return null;
    }
    if (node.isTextual()) {
      return node.asText();
    }
    JsonNode content = node.get("content"); // a serialised AddedToken
    return content == null ? null : content.asText();
  }

  private static byte[] read(Path file) {
    if (!Files.isRegularFile(file)) {
      throw new ModelDirectoryException(file, "missing");
    }
    try {
      return Files.readAllBytes(file);
    } catch (IOException e) {
      throw new ModelDirectoryException(file, "unreadable: " + e.getMessage(), e);
    }
  }

  private static JsonNode parse(Path file, byte[] bytes) {
    try {
      return JSON.readTree(bytes);
    } catch (IOException e) {
      throw new ModelDirectoryException(file, "not valid JSON: " + e.getMessage(), e);
    }
  }

  /**
   * Renders {@code messages} (maps with role and content) as transformers'
   * apply_chat_template(tokenize=False) does.
   */
  public String render(List<Map<String, Object>> messages, Object tools,
      boolean addGenerationPrompt) {
    Map<String, Object> vars = new LinkedHashMap<>(specialTokenVariables);
    vars.put("messages", messages);
    vars.put("tools", tools);
    vars.put("documents", null);
    vars.put("add_generation_prompt", addGenerationPrompt);
    return template.render(vars, clock);
  }

  /** How tool-call arguments reach this template: detected once, when the model loads. */
  public ToolArguments toolArguments() {
    return toolArguments;
  }

  /**
   * Renders a probe conversation with one tool call (a user turn, the call, its result, a reply;
   * with and without a system turn) with the arguments as an object, then as text. The object
   * where the template renders it (the form transformers' own examples use); the text where
   * only the text renders; the object where neither does (the template has no tool calls, and
   * conversations with them are refused by it either way). Decided once per template, so every
   * render of a conversation (the full one and its prefixes) gives the template the same form.
   */
  private ToolArguments detectToolArguments() {
    for (boolean system : new boolean[] {false, true}) {
      for (ToolArguments form : ToolArguments.values()) {
        List<Map<String, Object>> probe = new ArrayList<>();
        if (system) {
          probe.add(message("system", "PROBE-SYSTEM"));
        }
        probe.add(message("user", "PROBE-USER"));
        Map<String, Object> function = new LinkedHashMap<>();
        function.put("name", "probe_tool");
        function.put("arguments", form == ToolArguments.OBJECT
            ? new LinkedHashMap<>(Map.of("probe_key", "probe-value"))
            : "{\"probe_key\": \"probe-value\"}");
        Map<String, Object> call = new LinkedHashMap<>();
        call.put("id", "call_probe");
        call.put("type", "function");
        call.put("function", function);
        Map<String, Object> calling = message("assistant", null);
        calling.put("tool_calls", List.of(call));
        probe.add(calling);
        Map<String, Object> result = message("tool", "PROBE-RESULT");
        result.put("tool_call_id", "call_probe");
        probe.add(result);
        probe.add(message("assistant", "PROBE-REPLY"));
        try {
          render(probe, null, false);
          return form;
        } catch (TemplateException e) {
          // this form fails here: try the other, then the other probe
        }
      }
    }
    return ToolArguments.OBJECT;
  }

  /**
   * The token that closes an assistant turn in this chat format: the first special token after
   * the assistant's text in a rendered probe conversation ({@code <|im_end|>} for ChatML, {@code
   * <|eot_id|>} for Llama 3, {@code <end_of_turn>} for Gemma), else the eos token.
   */
  public String detectEndOfTurn() {
    String marker = "PROBE-ASSISTANT-REPLY";
    List<List<Map<String, Object>>> probes = List.of(
        List.of(message("user", "PROBE-USER"), message("assistant", marker)),
        List.of(message("system", "PROBE-SYSTEM"), message("user", "PROBE-USER"),
            message("assistant", marker)));
    for (List<Map<String, Object>> probe : probes) {
      String text;
      try {
        text = render(probe, null, false);
      } catch (TemplateException e) {
        continue;
      }
      int at = text.indexOf(marker);
      if (at < 0) {
        continue;
      }
      int from = at + marker.length();
      String best = null;
      int bestAt = Integer.MAX_VALUE;
      for (String token : specialTokens) {
        int p = text.indexOf(token, from);
        if (p >= 0 && (p < bestAt || (p == bestAt && token.length() > best.length()))) {
          best = token;
          bestAt = p;
        }
      }
      Object eos = specialTokenVariables.get("eos_token");
      if (best == null && eos instanceof String e && text.indexOf(e, from) >= 0) {
        best = e;
      }
      if (best != null) {
        return best;
      }
    }
    throw new IllegalStateException("could not tell which token ends an assistant turn in the"
        + " chat template of " + directory + "; set end-of-turn-token");
  }

  private static Map<String, Object> message(String role, String content) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("role", role);
    m.put("content", content);
    return m;
  }

  /**
   * The ids that end a generated reply: the eos and pad tokens (when each is one token), and the
   * end-of-turn tokens of the common chat formats that this tokenizer has as special tokens.
   */
  public Set<Integer> endOfReplyIds() {
    Set<Integer> stop = new java.util.HashSet<>();
    for (String name : List.of("eos_token", "pad_token")) {
      Object token = specialTokenVariables.get(name);
      if (token instanceof String s) {
        int[] ids = tokenizer.encode(s).ids();
        if (ids.length == 1) {
          stop.add(ids[0]);
        }
      }
    }
    for (String token : List.of("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|endoftext|>")) {
      if (specialTokens.contains(token)) {
        stop.add(tokenizer.encode(token).ids()[0]);
      }
    }
    return stop;
  }

  public ChatTokenizer tokenizer() {
    return tokenizer;
  }

  /** Contents of the tokenizer's special added tokens ({@code <|im_start|>}, ...). */
  public Set<String> specialTokens() {
    return specialTokens;
  }

  public Map<String, Object> specialTokenVariables() {
    return specialTokenVariables;
  }

  public String templateSource() {
    return templateSource;
  }

  /** sha256 of tokenizer.json, lower-case hex. */
  public String tokenizerFingerprint() {
    return tokenizerFingerprint;
  }

  /** sha256 of the chat template text, lower-case hex. */
  public String templateFingerprint() {
    return templateFingerprint;
  }

  public Path directory() {
    return directory;
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
