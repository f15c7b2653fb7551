package io.continualsft.chat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.continualsft.chat.format.ChatModel;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.Map;

/** The model directories and fixtures the tests use, from the test resources. */
public final class TestModels {
  public static final ObjectMapper JSON = new ObjectMapper();

  public static final Clock FIXED =
      Clock.fixed(LocalDateTime.of(2026, 11, 29, 10, 15, 30).toInstant(ZoneOffset.UTC), ZoneOffset.UTC);

  private TestModels() {}

  /** The Qwen3 tokenizer and chat template (Apache-2.0; see its README and LICENSE). */
  public static Path qwen3Dir() {
    String configured = System.getProperty("qwen3.dir");
    if (configured != null) {
      return Path.of(configured);
    }
    // Outside Maven (an IDE, a benchmark's main): the one copy in the repository.
    for (String candidate : new String[] {"tokenizers/qwen3", "../tokenizers/qwen3"}) {
      if (java.nio.file.Files.isRegularFile(Path.of(candidate, "tokenizer.json"))) {
        return Path.of(candidate).toAbsolutePath();
      }
    }
    throw new IllegalStateException("cannot find the Qwen3 tokenizer; set -Dqwen3.dir");
  }

  public static ChatModel qwen3() {
    return ChatModel.load(qwen3Dir(), "default", FIXED);
  }

  public static JsonNode json(String resource) {
    try (InputStream in = TestModels.class.getResourceAsStream(resource)) {
      return JSON.readTree(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static String text(String resource) {
    try (InputStream in = TestModels.class.getResourceAsStream(resource)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The reference conversations (src/test/fixtures-gen/conversations.json) by id. */
  public static Map<String, JsonNode> conversations() {
    Map<String, JsonNode> byId = new HashMap<>();
    json("/fixtures/conversations.json").forEach(c -> byId.put(c.get("id").asText(), c));
    return byId;
  }

  /**
   * A reference conversation's messages as the labeler receives them from an Avro event: read by
   * the Hugging Face messages importer (content possibly null, reasoning, tool calls with their
   * arguments as JSON text, tool-call id, name), then mapped as the streams app maps events.
   */
  public static java.util.List<io.continualsft.chat.labels.ChatMessage> chatMessages(
      JsonNode conversation) {
    try {
      return io.continualsft.chat.dataset.DatasetRecords.convert(conversation,
          io.continualsft.chat.dataset.DatasetFormat.MESSAGES).messages().stream()
          .map(io.continualsft.chat.labels.ChatMessage::from).toList();
    } catch (io.continualsft.chat.dataset.InvalidRecordException e) {
      throw new IllegalArgumentException(conversation.get("id") + ": " + e.getMessage(), e);
    }
  }

  /**
   * A model directory in {@code dir} with the Qwen3 tokenizer and the chat template of
   * src/test/resources/templates/{@code template}.jinja.
   */
  public static ChatModel withTemplate(Path dir, String template) {
    try {
      java.nio.file.Files.copy(qwen3Dir().resolve("tokenizer.json"), dir.resolve("tokenizer.json"),
          java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      com.fasterxml.jackson.databind.node.ObjectNode config = JSON.createObjectNode();
      config.put("eos_token", "<|im_end|>");
      config.put("chat_template", text("/templates/" + template + ".jinja"));
      java.nio.file.Files.writeString(dir.resolve("tokenizer_config.json"), config.toString());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return ChatModel.load(dir, "default", FIXED);
  }
}
