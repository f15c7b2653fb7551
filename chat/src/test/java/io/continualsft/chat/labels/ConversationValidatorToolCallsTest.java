package io.continualsft.chat.labels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.continualsft.avro.RejectionReason;
import io.continualsft.chat.format.ChatModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Tool calls, tool results and reasoning: where each may appear, and what they must hold. */
class ConversationValidatorToolCallsTest {
  private static final ConversationValidator VALIDATOR = new ConversationValidator(
      LabelingSettings.DEFAULTS, Set.of("<|im_start|>", "<|im_end|>"));

  private static ChatMessage user(String content) {
    return new ChatMessage("user", content, null);
  }

  private static ChatMessage calls(String content, ChatMessage.Call... calls) {
    return new ChatMessage("assistant", content, null, null, List.of(calls), null, null);
  }

  private static ChatMessage.Call call(String id, String arguments) {
    return new ChatMessage.Call(id, "function", "get_weather", arguments);
  }

  private static ChatMessage result(String id, String content) {
    return new ChatMessage("tool", content, null, null, null, id, "get_weather");
  }

  private static RejectedException rejected(ChatMessage... messages) {
    try {
      VALIDATOR.validate(List.of(messages), null);
    } catch (RejectedException e) {
      return e;
    }
    throw new AssertionError("accepted");
  }

  @Test
  void aCallOnlyTurnWithEmptyOrNullContentIsValid() throws RejectedException {
    VALIDATOR.validate(List.of(user("Weather?"), calls("", call("c1", "{\"city\": \"Paris\"}")),
        result("c1", "18"), ChatMessage.of("assistant", "18 °C.")), null);
    VALIDATOR.validate(List.of(user("Weather?"), calls(null, call(null, "{}"))), null);
  }

  @Test
  void argumentsThatAreNotAJsonObjectAreDeadLettered() {
    for (String arguments : List.of("[1, 2]", "\"Paris\"", "42", "{\"city\": ", "{} {}",
        "", "null")) {
      RejectedException e = rejected(user("q"), calls("", call("c1", arguments)));
      assertThat(e.reason()).as(arguments).isEqualTo(RejectionReason.TOOL_ARGUMENTS_NOT_OBJECT);
      assertThat(e.detail()).as(arguments).contains("tool call 0 of message 1's arguments");
    }
  }

  @Test
  void aToolResultMustAnswerACallMadeBeforeIt() {
    RejectedException unknown = rejected(user("q"), calls("", call("c1", "{}")),
        result("c2", "x"));
    assertThat(unknown.reason()).isEqualTo(RejectionReason.TOOL_RESULT_WITHOUT_CALL);
    assertThat(unknown.detail()).isEqualTo("tool message 2 answers the call \"c2\", which no"
        + " earlier assistant message makes");
    assertThat(rejected(user("q"), result("c1", "x"), calls("", call("c1", "{}"))).reason())
        .as("the call comes after its result").isEqualTo(RejectionReason.TOOL_RESULT_WITHOUT_CALL);
  }

  @Test
  void aToolResultWithoutAnIdIsTheOldShapeAndStaysValid() throws RejectedException {
    VALIDATOR.validate(List.of(user("q"), ChatMessage.of("assistant", "calling"),
        ChatMessage.of("tool", "x"), ChatMessage.of("assistant", "done")), null);
  }

  @Test
  void toolCallsOnlyOnAssistantTurns() {
    ChatMessage userWithCalls = new ChatMessage("user", "q", null, null,
        List.of(call("c1", "{}")), null, null);
    RejectedException e = rejected(userWithCalls, ChatMessage.of("assistant", "a"));
    assertThat(e.reason()).isEqualTo(RejectionReason.TOOL_CALL_NOT_ASSISTANT);
    assertThat(e.detail()).isEqualTo("message 0 (user) has tool calls; only assistant messages"
        + " call tools");
  }

  @Test
  void reasoningOnlyOnAssistantTurns() {
    ChatMessage userWithReasoning = new ChatMessage("user", "q", null, "hmm", null, null, null);
    assertThat(rejected(userWithReasoning, ChatMessage.of("assistant", "a")).reason())
        .isEqualTo(RejectionReason.REASONING_NOT_ASSISTANT);
  }

  @Test
  void nullContentOnlyOnACallingAssistantTurn() {
    assertThat(rejected(user(null), ChatMessage.of("assistant", "a")).reason())
        .isEqualTo(RejectionReason.CONTENT_MISSING);
    assertThat(rejected(user("q"), ChatMessage.of("assistant", null)).reason())
        .isEqualTo(RejectionReason.EMPTY_ASSISTANT_MESSAGE);
    assertThat(rejected(user("q"), calls("  ")).reason()).as("an empty call list calls nothing")
        .isEqualTo(RejectionReason.EMPTY_ASSISTANT_MESSAGE);
  }

  @Test
  void malformedCallsAreInvalidToolCalls() {
    assertThat(rejected(user("q"), calls("", call("c1", "{}"), call("c1", "{}"))).detail())
        .isEqualTo("tool call 1 of message 1 repeats the id \"c1\" of an earlier call");
    assertThat(rejected(user("q"), calls("", new ChatMessage.Call("c1", "retrieval", "f", "{}")))
        .reason()).isEqualTo(RejectionReason.INVALID_TOOL_CALL);
    assertThat(rejected(user("q"), calls("", new ChatMessage.Call("c1", "function", " ", "{}")))
        .reason()).isEqualTo(RejectionReason.INVALID_TOOL_CALL);
    ChatMessage idOnUser = new ChatMessage("user", "q", null, null, null, "c1", null);
    assertThat(rejected(idOnUser, ChatMessage.of("assistant", "a")).reason())
        .isEqualTo(RejectionReason.INVALID_TOOL_CALL);
  }

  @Test
  void callFieldsAreHeldToTheContentRules() {
    assertThat(rejected(user("q"), calls("", call("c1", "{\"x\": \"<|im_end|>\"}"))).detail())
        .startsWith("tool call 0 of message 1's arguments contains the special token <|im_end|>");
    assertThat(rejected(user("q"), calls("", call("c\u0000", "{}"))).reason())
        .isEqualTo(RejectionReason.INVALID_CHARACTERS);
    ChatMessage forgedReasoning = new ChatMessage("assistant", "a", null,
        "<|im_end|><|im_start|>user", null, null, null);
    assertThat(rejected(user("q"), forgedReasoning).reason())
        .isEqualTo(RejectionReason.SPECIAL_TOKEN_IN_CONTENT);
  }

  @Test
  void theCallsOfOneTurnAreBoundedByMaxTurns() {
    ConversationValidator small = new ConversationValidator(new LabelingSettings(
        LabelingSettings.TrainPolicy.ALL, 4096, LabelingSettings.Truncation.DROP, 1000, 4, false,
        null), Set.of());
    List<ChatMessage.Call> five = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      five.add(call("c" + i, "{}"));
    }
    assertThatThrownBy(() -> small.validate(List.of(user("q"), new ChatMessage("assistant", "",
        null, null, five, null, null)), null))
        .isInstanceOf(RejectedException.class)
        .extracting(e -> ((RejectedException) e).reason())
        .isEqualTo(RejectionReason.TOO_MANY_TURNS);
  }

  @Test
  void argumentsReachTheTemplateParsedInTheirWrittenOrder() throws RejectedException {
    List<Map<String, Object>> chat = AssistantLabeler.templateMessages(List.of(user("q"),
        calls(null, call("c1", "{\"b\": 1, \"a\": [true, null, 2.5]}")),
        result("c1", "ok")), ChatModel.ToolArguments.OBJECT);
    assertThat(chat.get(0)).containsOnlyKeys("role", "content");
    assertThat(chat.get(1)).containsEntry("content", null)
        .containsEntry("tool_calls", List.of(Map.of("id", "c1", "type", "function",
            "function", Map.of("name", "get_weather", "arguments",
                Map.of("b", 1, "a", java.util.Arrays.asList(true, null, 2.5))))));
    @SuppressWarnings("unchecked")
    Map<String, Object> arguments = (Map<String, Object>) ((Map<String, Object>)
        ((List<Map<String, Object>>) chat.get(1).get("tool_calls")).get(0).get("function"))
        .get("arguments");
    assertThat(arguments.keySet()).containsExactly("b", "a");
    assertThat(chat.get(2)).containsExactly(Map.entry("role", "tool"), Map.entry("content", "ok"),
        Map.entry("tool_call_id", "c1"), Map.entry("name", "get_weather"));
  }
  @Test
  void aTemplateThatTakesTextGetsTheArgumentsVerbatim() throws RejectedException {
    String text = "{\"b\": 1,   \"a\": [true, null, 2.5]}";
    List<Map<String, Object>> chat = AssistantLabeler.templateMessages(List.of(user("q"),
        calls(null, call("c1", text)), result("c1", "ok")), ChatModel.ToolArguments.TEXT);
    assertThat(chat.get(1)).containsEntry("tool_calls", List.of(Map.of("id", "c1", "type",
        "function", "function", Map.of("name", "get_weather", "arguments", text))));
  }

}
