package io.continualsft.chat.template;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.continualsft.chat.TestModels;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import io.continualsft.chat.labels.AssistantLabeler;
import io.continualsft.chat.labels.RejectedException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every render of {@code render-fixtures.json} (made by Python jinja2 configured as transformers
 * configures it; see src/test/fixtures-gen) is reproduced character for character, errors
 * included: five templates (Qwen3's own, ChatML, Llama-3-style, Llama 3.1's with its tool
 * syntax, and one exercising the Jinja features chat templates use) times 32 conversations
 * (tool calls, tool results and reasoning among them), with and without the generation prompt.
 * The messages reach the template through the labeler's own mapping
 * ({@link AssistantLabeler#templateMessages}), so the fixtures also pin what transformers would
 * pass: arguments parsed, optional keys only when set, None content.
 */
class RenderParityTest {

  static final Map<String, Map<String, Object>> VARIABLES = Map.of(
      "qwen3", Map.of("eos_token", "<|im_end|>", "pad_token", "<|endoftext|>"),
      "chatml", Map.of("eos_token", "<|im_end|>"),
      "llama3", Map.of("bos_token", "<|begin_of_text|>", "eos_token", "<|eot_id|>"),
      "features", Map.of(),
      "llama31-tools", Map.of("bos_token", "<|begin_of_text|>", "eos_token", "<|eot_id|>"));

  static String templateSource(String name) {
    if (name.equals("qwen3")) {
      try {
        return TestModels.JSON.readTree(TestModels.qwen3Dir().resolve("tokenizer_config.json")
            .toFile()).get("chat_template").asText();
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }
    return TestModels.text("/templates/" + name + ".jinja");
  }

  static Stream<Arguments> renders() {
    Map<String, JsonNode> conversations = TestModels.conversations();
    List<Arguments> out = new ArrayList<>();
    for (JsonNode r : TestModels.json("/fixtures/render-fixtures.json").get("renders")) {
      out.add(Arguments.of(r.get("template").asText(), r.get("conversation").asText(),
          r.get("add_generation_prompt").asBoolean(), conversations.get(r.get("conversation").asText()),
          r));
    }
    return out.stream();
  }

  static Map<String, Object> variables(String template, JsonNode conversation, boolean agp) {
    List<Map<String, Object>> messages;
    try {
      messages = AssistantLabeler.templateMessages(TestModels.chatMessages(conversation),
          io.continualsft.chat.format.ChatModel.ToolArguments.OBJECT);
    } catch (RejectedException e) {
      throw new AssertionError(e);
    }
    Map<String, Object> vars = new HashMap<>(VARIABLES.get(template));
    vars.put("messages", messages);
    vars.put("tools", conversation.has("tools") ? TestModels.JSON.convertValue(conversation.get("tools"), List.class) : null);
    vars.put("documents", null);
    vars.put("add_generation_prompt", agp);
    return vars;
  }

  @ParameterizedTest(name = "{0} / {1} / generation prompt {2}")
  @MethodSource("renders")
  void rendersExactlyAsJinja2(String template, String conversationId, boolean agp,
      JsonNode conversation, JsonNode expected) {
    JinjaTemplate compiled = JinjaTemplate.compile(templateSource(template));
    Map<String, Object> vars = variables(template, conversation, agp);
    if (expected.has("error") && !expected.path("error_type").asText("TemplateError")
        .equals("TemplateError")) {
      // Python's own error (a TypeError on None): the engine refuses too, in its own words.
      assertThatThrownBy(() -> compiled.render(vars, TestModels.FIXED))
          .isInstanceOf(TemplateException.class);
    } else if (expected.has("error")) {
      assertThatThrownBy(() -> compiled.render(vars, TestModels.FIXED))
          .isInstanceOf(TemplateRaisedException.class)
          .extracting(e -> ((TemplateRaisedException) e).templateMessage())
          .isEqualTo(expected.get("error").asText());
    } else {
      assertThat(compiled.render(vars, TestModels.FIXED)).isEqualTo(expected.get("output").asText());
    }
  }
}
