package io.continualsft.chat.labels;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import org.apache.kafka.common.config.ConfigException;

/**
 * The configuration keys of the labelling rules, one name, default and meaning each, read by
 * every service that labels conversations: the streams app (its examples), and the trainer (its
 * retention set), so one properties file can configure both and they label alike.
 */
public final class LabelingKeys {
  /** A key, its default as text, and its meaning. */
  public record Key(String name, String defaultValue, String doc) {}

  public static final String CHAT_TEMPLATE_NAME = "model.chat-template-name";
  public static final String POLICY = "labels.policy";
  public static final String REASONING = "labels.reasoning";
  public static final String MAX_LENGTH = "labels.max-length";
  public static final String TRUNCATION = "labels.truncation";
  public static final String END_OF_TURN_TOKEN = "labels.end-of-turn-token";
  public static final String MAX_CONTENT_CHARS = "validation.max-content-chars";
  public static final String MAX_TURNS = "validation.max-turns";
  public static final String SPECIAL_TOKENS_IN_CONTENT = "validation.special-tokens-in-content";

  /** The keys in the order the reference lists them; defaults are {@link LabelingSettings#DEFAULTS}'. */
  public static final List<Key> KEYS = List.of(
      new Key(CHAT_TEMPLATE_NAME, "default",
          "Which template to use when chat_template is a list of named templates."),
      new Key(POLICY, "all", "Assistant turns trained by default: all, or last."),
      new Key(REASONING, "train", "An assistant turn's reasoning, where the chat template"
          + " renders it: train, or exclude (what it adds to the render is labelled -100; the"
          + " reply and tool calls are still trained)."),
      new Key(MAX_LENGTH, String.valueOf(LabelingSettings.DEFAULTS.maxLength()),
          "The most tokens an example may have."),
      new Key(TRUNCATION, "drop",
          "Longer examples: drop (dead letter TOO_MANY_TOKENS) or keep-start."),
      new Key(END_OF_TURN_TOKEN, "",
          "The token that ends an assistant turn; empty: detected from the template."),
      new Key(MAX_CONTENT_CHARS, String.valueOf(LabelingSettings.DEFAULTS.maxContentChars()),
          "The most characters one message may have."),
      new Key(MAX_TURNS, String.valueOf(LabelingSettings.DEFAULTS.maxTurns()),
          "The most messages a conversation may have."),
      new Key(SPECIAL_TOKENS_IN_CONTENT, "reject",
          "Content containing a special token's text (such as <|im_end|>): reject or allow."));

  private LabelingKeys() {}

  /**
   * The rules {@code values} configure (a key it does not hold: its default); a value that does
   * not parse fails with a {@link ConfigException} naming its key.
   */
  public static LabelingSettings read(Function<String, String> values) {
    Function<String, String> get = key -> {
      String v = values.apply(key);
      return v != null ? v.trim() : KEYS.stream().filter(k -> k.name().equals(key)).findFirst()
          .orElseThrow().defaultValue();
    };
    String special = get.apply(SPECIAL_TOKENS_IN_CONTENT).toLowerCase(Locale.ROOT);
    if (!special.equals("reject") && !special.equals("allow")) {
      throw new ConfigException(SPECIAL_TOKENS_IN_CONTENT, special, "must be reject or allow");
    }
    LabelingSettings.TrainPolicy policy = parse(POLICY, get, LabelingSettings.TrainPolicy::parse);
    LabelingSettings.Reasoning reasoning = parse(REASONING, get,
        LabelingSettings.Reasoning::parse);
    LabelingSettings.Truncation truncation = parse(TRUNCATION, get,
        LabelingSettings.Truncation::parse);
    String endOfTurn = get.apply(END_OF_TURN_TOKEN);
    return new LabelingSettings(policy, positive(MAX_LENGTH, get), truncation,
        positive(MAX_CONTENT_CHARS, get), positive(MAX_TURNS, get), special.equals("allow"),
        endOfTurn.isEmpty() ? null : endOfTurn, reasoning);
  }

  /** The chat template's name in {@code values}, or the default. */
  public static String templateName(Function<String, String> values) {
    String v = values.apply(CHAT_TEMPLATE_NAME);
    return v == null || v.isBlank() ? "default" : v.trim();
  }

  /** The properties {@link #read} reads back into {@code rules} and {@code templateName}. */
  public static Map<String, String> write(LabelingSettings rules, String templateName) {
    Map<String, String> out = new LinkedHashMap<>();
    out.put(CHAT_TEMPLATE_NAME, templateName);
    out.put(POLICY, rules.policy().name().toLowerCase(Locale.ROOT));
    out.put(REASONING, rules.reasoning().name().toLowerCase(Locale.ROOT));
    out.put(MAX_LENGTH, String.valueOf(rules.maxLength()));
    out.put(TRUNCATION, rules.truncation().name().toLowerCase(Locale.ROOT).replace('_', '-'));
    out.put(END_OF_TURN_TOKEN, rules.endOfTurnToken() == null ? "" : rules.endOfTurnToken());
    out.put(MAX_CONTENT_CHARS, String.valueOf(rules.maxContentChars()));
    out.put(MAX_TURNS, String.valueOf(rules.maxTurns()));
    out.put(SPECIAL_TOKENS_IN_CONTENT, rules.allowSpecialTokensInContent() ? "allow" : "reject");
    return out;
  }

  private static <T> T parse(String key, Function<String, String> get,
      Function<String, T> parser) {
    try {
      return parser.apply(get.apply(key));
    } catch (IllegalArgumentException e) {
      throw new ConfigException(key, get.apply(key), e.getMessage());
    }
  }

  private static int positive(String key, Function<String, String> get) {
    String v = get.apply(key);
    try {
      int n = Integer.parseInt(v);
      if (n < 1) {
        throw new ConfigException(key, v, "must be >= 1");
      }
      return n;
    } catch (NumberFormatException e) {
      throw new ConfigException(key, v, "must be a whole number");
    }
  }
}
