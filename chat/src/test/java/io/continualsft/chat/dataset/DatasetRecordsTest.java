package io.continualsft.chat.dataset;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.continualsft.avro.Message;
import io.continualsft.schemas.Messages;
import java.util.List;
import org.junit.jupiter.api.Test;

/** One record of each format, mapped literally; and what makes a record of each invalid. */
class DatasetRecordsTest {

  private static ImportedConversation read(String json) throws InvalidRecordException {
    return ImportedConversation.parse(json, DatasetFormat.AUTO);
  }

  private static String reason(String json, DatasetFormat format) {
    try {
      ImportedConversation.parse(json, format);
      return null;
    } catch (InvalidRecordException e) {
      return e.getMessage();
    }
  }

  @Test
  void theSeedsConversationsKeepTheirIdTrainFlagsAndTools() throws InvalidRecordException {
    ImportedConversation c = read("{\"id\": \"s1\", \"adapter\": \"acme\", \"tools\": [{\"a\": 1}],"
        + " \"conversations\": [{\"role\": \"user\", \"content\": \" Hi \"},"
        + " {\"role\": \"assistant\", \"content\": \"Hello\", \"train\": false}]}");
    assertThat(c.id()).isEqualTo("s1");
    assertThat(c.adapter()).isEqualTo("acme");
    assertThat(c.tools()).isEqualTo("[{\"a\":1}]");
    assertThat(c.messages()).containsExactly(Messages.of("user", " Hi "),
        Messages.of("assistant", "Hello", false));
  }

  @Test
  void aRecordsDataSubjectIsReadAndOneThatIsNotTextIsRefused() throws InvalidRecordException {
    String messages = "\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"},"
        + " {\"role\": \"assistant\", \"content\": \"Hello\"}]";
    assertThat(read("{\"subject\": \"u-91\", " + messages + "}").subject()).isEqualTo("u-91");
    assertThat(read("{" + messages + "}").subject()).isNull();
    assertThat(read("{" + messages + "}").toAvro("default", java.time.Instant.EPOCH)
        .getSubject()).isNull();
    assertThat(read("{\"subject\": 4411, " + messages + "}").toAvro("default",
        java.time.Instant.EPOCH).getSubject()).isEqualTo("4411");
    assertThat(reason("{\"subject\": {\"id\": 1}, " + messages + "}", DatasetFormat.AUTO))
        .isEqualTo("\"subject\" (the data subject) must be a string");
    assertThat(DatasetRecords.subject(DatasetFile.parseRecord("{\"user_id\": \"p-7\"}"),
        "user_id")).isEqualTo("p-7");
  }

  @Test
  void huggingFaceMessagesCarryToolCallsResultsAndReasoning() throws InvalidRecordException {
    ImportedConversation c = read("{\"messages\": ["
        + "{\"role\": \"user\", \"content\": \"Weather?\"},"
        + "{\"role\": \"assistant\", \"content\": null, \"reasoning_content\": \"Ask the tool.\","
        + " \"tool_calls\": [{\"id\": \"c1\", \"type\": \"function\", \"function\":"
        + " {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}},"
        + " {\"name\": \"get_time\", \"arguments\": \"{\\\"city\\\": \\\"Paris\\\"}\"}]},"
        + "{\"role\": \"tool\", \"tool_call_id\": \"c1\", \"name\": \"get_weather\","
        + " \"content\": \"18\"}]}");
    Message call = c.messages().get(1);
    assertThat(call.getContent()).isNull();
    assertThat(call.getReasoning()).isEqualTo("Ask the tool.");
    assertThat(call.getToolCalls()).containsExactly(
        Messages.call("c1", "get_weather", "{\"city\": \"Paris\"}"),
        Messages.call(null, "get_time", "{\"city\": \"Paris\"}"));
    assertThat(c.messages().get(2)).isEqualTo(Messages.toolResult("c1", "get_weather", "18"));
    assertThat(c.id()).as("a content hash when the record has no id").hasSize(32);
    assertThat(read("{\"messages\": [{\"role\": \"user\", \"content\": \"Weather?\"}]}").id())
        .as("another conversation, another hash").hasSize(32).isNotEqualTo(c.id());
  }

  @Test
  void shareGptMapsSpeakersAndFunctionCalls() throws InvalidRecordException {
    ImportedConversation c = read("{\"system\": \"Be brief.\", \"tools\":"
        + " \"[{\\\"name\\\": \\\"get_weather\\\"}]\", \"conversations\": ["
        + "{\"from\": \"human\", \"value\": \"Weather in Rome?\"},"
        + "{\"from\": \"function_call\", \"value\": \"{\\\"name\\\": \\\"get_weather\\\","
        + " \\\"arguments\\\": {\\\"city\\\": \\\"Rome\\\"}}\"},"
        + "{\"from\": \"observation\", \"value\": \"21\"},"
        + "{\"from\": \"gpt\", \"value\": \"21 °C.\", \"weight\": 0}]}");
    assertThat(c.messages()).hasSize(5);
    assertThat(c.messages().get(0)).isEqualTo(Messages.of("system", "Be brief."));
    assertThat(c.messages().get(1)).isEqualTo(Messages.of("user", "Weather in Rome?"));
    assertThat(c.messages().get(2)).isEqualTo(Messages.toolCalls("",
        List.of(Messages.call(null, "get_weather", "{\"city\": \"Rome\"}"))));
    assertThat(c.messages().get(3)).isEqualTo(Messages.of("tool", "21"));
    assertThat(c.messages().get(4)).isEqualTo(Messages.of("assistant", "21 °C.", false));
    assertThat(c.tools()).isEqualTo("[{\"name\": \"get_weather\"}]");
    assertThat(reason("{\"conversations\": [{\"from\": \"bing\", \"value\": \"x\"}]}",
        DatasetFormat.AUTO)).isEqualTo("turn 0 is from \"bing\"; ShareGPT speakers are human,"
            + " gpt, system, tool, observation and function_call");
  }

  @Test
  void anOpenAiLogIsTheRequestThenTheFirstChoice() throws InvalidRecordException {
    ImportedConversation c = read("{\"request\": {\"model\": \"gpt-x\", \"tools\": [{\"type\":"
        + " \"function\", \"function\": {\"name\": \"f\"}}], \"messages\": ["
        + "{\"role\": \"developer\", \"content\": \"Rules.\"},"
        + "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Hello \"},"
        + " {\"type\": \"text\", \"text\": \"there\"}]}]},"
        + " \"response\": {\"id\": \"chatcmpl-1\", \"choices\": [{\"finish_reason\": \"tool_calls\","
        + " \"message\": {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\":"
        + " \"call_a\", \"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\":"
        + " \"{}\"}}]}}]}}");
    assertThat(c.id()).isEqualTo("chatcmpl-1");
    assertThat(c.metadata()).containsEntry("model", "gpt-x");
    assertThat(c.messages()).containsExactly(Messages.of("system", "Rules."),
        Messages.of("user", "Hello there"),
        Messages.toolCalls(null, List.of(Messages.call("call_a", "f", "{}"))));
    assertThat(c.tools()).contains("\"name\":\"f\"");
    String batch = "{\"custom_id\": \"r7\", \"request\": {\"body\": {\"messages\": [{\"role\":"
        + " \"user\", \"content\": \"q\"}]}}, \"response\": {\"status_code\": 200, \"body\":"
        + " {\"choices\": [{\"message\": {\"role\": \"assistant\", \"content\": \"a\"}}]}}}";
    assertThat(read(batch).id()).isEqualTo("r7");
    assertThat(read(batch).messages()).hasSize(2);
    assertThat(reason(batch.replace("\"message\"", "\"finish_reason\": \"length\","
        + " \"message\""), DatasetFormat.OPENAI)).startsWith("the reply was cut off");
    assertThat(reason(batch.replace("\"content\": \"q\"", "\"content\": [{\"type\":"
        + " \"image_url\"}]"), DatasetFormat.OPENAI))
        .isEqualTo("message 0 has a \"image_url\" content part; only text is trained");
  }

  @Test
  void alpacaJoinsInstructionAndInputWithANewline() throws InvalidRecordException {
    ImportedConversation c = read("{\"instruction\": \"Translate.\", \"input\": \"chat\","
        + " \"output\": \"cat\", \"system\": \"You translate.\", \"history\": [[\"Hi\","
        + " \"Hello\"]]}");
    assertThat(c.messages()).containsExactly(Messages.of("system", "You translate."),
        Messages.of("user", "Hi"), Messages.of("assistant", "Hello"),
        Messages.of("user", "Translate.\nchat"), Messages.of("assistant", "cat"));
    assertThat(read("{\"instruction\": \"Say hi.\", \"input\": \"\", \"output\": \"hi\"}")
        .messages()).containsExactly(Messages.of("user", "Say hi."),
        Messages.of("assistant", "hi"));
  }

  @Test
  void anExplicitFormatRefusesOtherShapesByName() {
    assertThat(reason("{\"instruction\": \"x\", \"output\": \"y\"}", DatasetFormat.SHAREGPT))
        .isEqualTo("not ShareGPT: no \"conversations\" array");
    assertThat(reason("{\"messages\": []}", DatasetFormat.ALPACA))
        .isEqualTo("not Alpaca: needs string \"instruction\" and \"output\"");
    assertThat(reason("{\"text\": \"x\"}", DatasetFormat.AUTO)).startsWith("not a known format");
    assertThatThrownBy(() -> DatasetFormat.parse("csv"))
        .hasMessageStartingWith("format must be one of auto, conversations, messages");
  }

  @Test
  void malformedTurnsAreNamed() {
    assertThat(reason("{\"messages\": [{\"role\": \"user\", \"content\": 3}]}",
        DatasetFormat.AUTO)).isEqualTo("message 0's \"content\" must be a string or null");
    assertThat(reason("{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"function\":"
        + " {\"name\": \"f\"}}]}]}", DatasetFormat.AUTO))
        .isEqualTo("tool call 0 of message 0 has no \"arguments\"");
    assertThat(reason("{\"messages\": [{\"role\": \"user\", \"content\": \"q\", \"train\":"
        + " \"yes\"}]}", DatasetFormat.AUTO))
        .isEqualTo("message 0's \"train\" must be true or false");
  }
}
