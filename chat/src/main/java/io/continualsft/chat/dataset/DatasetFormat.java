package io.continualsft.chat.dataset;

import java.util.Locale;

/**
 * The shapes of conversation records people already have. Each record (a JSONL line or an
 * element of a JSON array) is read as one conversation; see docs/producing.md for each shape.
 */
public enum DatasetFormat {
  /** Decides per record by its fields: messages, request, conversations, instruction. */
  AUTO("auto"),
  /** The seed tutorial's {@code {"conversations": [{"role", "content"}, ...]}}. */
  CONVERSATIONS("conversations"),
  /** Hugging Face chat datasets: {@code {"messages": [...], "tools": [...]}}. */
  MESSAGES("messages"),
  /** ShareGPT: {@code {"conversations": [{"from": "human"|"gpt"|..., "value"}]}}. */
  SHAREGPT("sharegpt"),
  /** An OpenAI chat-completion log: {@code {"request": {...}, "response": {...}}}. */
  OPENAI("openai"),
  /** Alpaca: {@code {"instruction", "input", "output"}}. */
  ALPACA("alpaca");

  /** How a command line writes it. */
  private final String name;

  DatasetFormat(String name) {
    this.name = name;
  }

  public static DatasetFormat parse(String s) {
    String n = s.trim().toLowerCase(Locale.ROOT);
    for (DatasetFormat f : values()) {
      if (f.name.equals(n)) {
        return f;
      }
    }
    throw new IllegalArgumentException("format must be one of auto, conversations, messages,"
        + " sharegpt, openai, alpaca; got '" + s + "'");
  }
}
