package io.continualsft.chat.labels;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.continualsft.chat.TestModels;
import io.continualsft.chat.format.ChatModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Exact ids and labels on the real Qwen3 tokenizer for 31 conversations, against fixtures made by
 * an independent implementation: Python jinja2 for the render and the trained spans, the Rust
 * tokenizer (Python {@code tokenizers}) for the ids (see src/test/fixtures-gen). Among them: tool
 * calls (single, parallel, call-only turns, a call with content, a call as the last turn), tool
 * results, and reasoning trained or excluded, in the last turn and in earlier ones that Qwen3's
 * template drops; and a call-only turn with null content, which the template refuses, as it does
 * under transformers.
 */
class Qwen3LabelParityTest {
  private static ChatModel model;

  @BeforeAll
  static void load() {
    model = TestModels.qwen3();
  }

  @AfterAll
  static void close() {
    model.close();
  }

  static Stream<Arguments> cases() {
    Map<String, JsonNode> conversations = TestModels.conversations();
    List<Arguments> out = new ArrayList<>();
    for (JsonNode c : TestModels.json("/fixtures/qwen3-label-fixtures.json").get("cases")) {
      out.add(Arguments.of(c.get("id").asText(), conversations.get(c.get("id").asText()), c));
    }
    return out.stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void idsAndLabelsMatchTheReference(String id, JsonNode conversation, JsonNode expected)
      throws RejectedException {
    LabelingSettings settings = LabelingSettings.DEFAULTS.withPolicy(
        LabelingSettings.TrainPolicy.parse(expected.get("policy").asText()))
        .withReasoning(LabelingSettings.Reasoning.parse(expected.get("reasoning").asText()));
    AssistantLabeler labeler = new AssistantLabeler(model, settings);
    List<ChatMessage> messages = TestModels.chatMessages(conversation);
    String tools = conversation.has("tools") ? conversation.get("tools").toString() : null;
    if (expected.has("refused")) {
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> labeler.label(messages, tools))
          .isInstanceOf(RejectedException.class)
          .extracting(e -> ((RejectedException) e).reason())
          .isEqualTo(io.continualsft.avro.RejectionReason.TEMPLATE_REFUSED);
      return;
    }

    AssistantLabeler.Labeled labeled = labeler.label(messages, tools);

    assertThat(labeled.inputIds()).containsExactly(ints(expected.get("input_ids")));
    assertThat(labeled.labels()).containsExactly(ints(expected.get("labels")));
    assertThat(labeled.trainedTokens())
        .isEqualTo((int) java.util.Arrays.stream(ints(expected.get("labels"))).filter(l -> l != -100).count())
        .isPositive();
  }

  static int[] ints(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asInt();
    }
    return out;
  }
}
