package io.continualsft.chat.labels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.continualsft.avro.Message;
import io.continualsft.avro.RejectionReason;
import io.continualsft.chat.TestModels;
import io.continualsft.chat.dataset.DatasetFormat;
import io.continualsft.chat.dataset.ImportedConversation;
import io.continualsft.chat.dataset.InvalidRecordException;
import io.continualsft.chat.format.ChatModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * DeepSeek-V3's template with its real tokenizer (tokenizers/deepseek-v3): it concatenates a
 * call's arguments as a string, so they must reach it as text. Exact renders, ids and labels
 * against transformers' render and the Rust tokenizer's ids (src/test/fixtures-gen/
 * deepseek_v3_reference.py), for arguments given as text (OpenAI logs) and as JSON objects
 * (Hugging Face datasets, imported as the text {@code tojson} prints), read through the dataset
 * importer as a user's file would be.
 */
class DeepSeekV3LabelParityTest {
  private static ChatModel model;

  @BeforeAll
  static void load() {
    model = ChatModel.load(deepSeekDir(), "default", TestModels.FIXED);
  }

  @AfterAll
  static void close() {
    model.close();
  }

  static Path deepSeekDir() {
    return TestModels.qwen3Dir().resolveSibling("deepseek-v3");
  }

  static Stream<Arguments> cases() {
    List<Arguments> out = new ArrayList<>();
    for (JsonNode c : TestModels.json("/fixtures/deepseek-v3-label-fixtures.json").get("cases")) {
      out.add(Arguments.of(c.get("id").asText(), c));
    }
    return out.stream();
  }

  @Test
  void theTemplateIsDetectedToTakeTheArgumentsAsText(@TempDir Path dir) throws Exception {
    assertThat(model.toolArguments()).isEqualTo(ChatModel.ToolArguments.TEXT);
    assertThat(model.detectEndOfTurn()).isEqualTo("<｜end▁of▁sentence｜>");
    try (ChatModel qwen3 = TestModels.qwen3()) {
      assertThat(qwen3.toolArguments()).as("Qwen3 takes either; the object, as transformers'"
          + " examples pass it").isEqualTo(ChatModel.ToolArguments.OBJECT);
    }
    // Llama 3.1 prints `arguments | tojson`: text would be quoted twice, so the object.
    for (String file : List.of("tokenizer.json", "tokenizer_config.json")) {
      Files.copy(TestModels.qwen3Dir().resolve(file), dir.resolve(file));
    }
    try (var template = DeepSeekV3LabelParityTest.class.getResourceAsStream(
        "/templates/llama31-tools.jinja")) {
      Files.write(dir.resolve("chat_template.jinja"), template.readAllBytes());
    }
    try (ChatModel llama = ChatModel.load(dir, "default", Clock.systemUTC())) {
      assertThat(llama.toolArguments()).isEqualTo(ChatModel.ToolArguments.OBJECT);
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void rendersIdsAndLabelsMatchTheReference(String id, JsonNode expected) throws Exception {
    if (expected.has("object_arguments")) {
      assertThat(expected.get("object_arguments").asText()).as("transformers with the object")
          .startsWith("TypeError: can only concatenate str");
    }
    List<ChatMessage> messages = imported(expected.get("messages"));
    AssistantLabeler labeler = new AssistantLabeler(model, LabelingSettings.DEFAULTS.withPolicy(
        LabelingSettings.TrainPolicy.parse(expected.get("policy").asText())));
    if (expected.has("refused")) {
      assertThatThrownBy(() -> labeler.label(messages, null))
          .isInstanceOf(RejectedException.class)
          .hasMessage(expected.get("refused").asText())
          .extracting(e -> ((RejectedException) e).reason())
          .isEqualTo(RejectionReason.ASSISTANT_SPAN_NOT_FOUND);
      return;
    }
    assertThat(model.render(AssistantLabeler.templateMessages(messages,
        model.toolArguments()), null, false)).isEqualTo(expected.get("render").asText());
    AssistantLabeler.Labeled labeled = labeler.label(messages, null);
    assertThat(labeled.inputIds()).containsExactly(Qwen3LabelParityTest.ints(
        expected.get("input_ids")));
    assertThat(labeled.labels()).containsExactly(Qwen3LabelParityTest.ints(
        expected.get("labels")));
  }

  /** The fixture's messages as a Hugging Face {@code messages} record, through the importer. */
  private static List<ChatMessage> imported(JsonNode messages) throws InvalidRecordException {
    ObjectMapper json = new ObjectMapper();
    String record = json.createObjectNode().set("messages", messages).toString();
    List<ChatMessage> out = new ArrayList<>();
    for (Message m : ImportedConversation.parse(record, DatasetFormat.MESSAGES).messages()) {
      out.add(ChatMessage.from(m));
    }
    return out;
  }
}
