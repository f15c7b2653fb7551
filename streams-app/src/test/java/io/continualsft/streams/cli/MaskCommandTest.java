package io.continualsft.streams.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.continualsft.chat.TestModels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The offline mask command: one output line per input line, in order, labels as the reference. */
class MaskCommandTest {

  @Test
  void labelsEachLineOrSaysWhyNot(@TempDir Path dir) throws Exception {
    JsonNode reference = null;
    for (JsonNode c : TestModels.json("/fixtures/qwen3-label-fixtures.json").get("cases")) {
      if (c.get("id").asText().equals("emoji-zwj")) {
        reference = c;
      }
    }
    JsonNode emoji = TestModels.conversations().get("emoji-zwj");
    Path input = dir.resolve("in.jsonl");
    Files.write(input, List.of(
        "{\"id\": \"emoji-zwj\", \"conversations\": " + emoji.get("messages") + "}",
        "{\"id\": \"lone\", \"messages\": [{\"role\": \"user\", \"content\": \"x\\udc00y\"},"
            + " {\"role\": \"assistant\", \"content\": \"a\"}]}",
        "this is not json",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}"), StandardCharsets.UTF_8);
    Path output = dir.resolve("out.jsonl");

    int code = StreamsAppCli.commandLine().execute("mask", "--model",
        TestModels.qwen3Dir().toString(), "--input", input.toString(), "--output", output.toString());

    assertThat(code).isZero();
    List<String> lines = Files.readAllLines(output, StandardCharsets.UTF_8);
    assertThat(lines).hasSize(4);
    JsonNode first = TestModels.JSON.readTree(lines.get(0));
    assertThat(first.get("id").asText()).isEqualTo("emoji-zwj");
    assertThat(first.get("input_ids")).isEqualTo(reference.get("input_ids"));
    assertThat(first.get("labels")).isEqualTo(reference.get("labels"));
    JsonNode second = TestModels.JSON.readTree(lines.get(1));
    assertThat(second.get("error").get("reason").asText()).isEqualTo("INVALID_CHARACTERS");
    assertThat(second.get("error").get("detail").asText())
        .isEqualTo("message 0 contains a lone low surrogate at offset 1");
    JsonNode third = TestModels.JSON.readTree(lines.get(2));
    assertThat(third.get("id").isNull()).isTrue();
    assertThat(third.get("error").get("reason").asText()).isEqualTo("INVALID_INPUT");
    assertThat(third.get("error").get("detail").asText()).startsWith("line 3: not valid JSON");
    JsonNode fourth = TestModels.JSON.readTree(lines.get(3));
    assertThat(fourth.get("id").asText()).matches("[0-9a-f]{32}");
    assertThat(fourth.get("error").get("reason").asText()).isEqualTo("NO_ASSISTANT_MESSAGE");
  }

  @Test
  void aGzippedArrayOfToolAndReasoningConversationsGivesTheReferenceLabels(@TempDir Path dir)
      throws Exception {
    List<String> ids = List.of("tool-parallel", "reasoning-tools-excluded", "tool-null-content");
    StringBuilder array = new StringBuilder("[");
    for (String id : ids) {
      JsonNode c = TestModels.conversations().get(id);
      array.append(array.length() > 1 ? ",\n" : "\n").append("{\"id\": \"").append(id)
          .append("\", \"tools\": ").append(c.get("tools")).append(", \"messages\": ")
          .append(c.get("messages")).append("}");
    }
    Path input = dir.resolve("in.json.gz");
    try (var out = new java.util.zip.GZIPOutputStream(Files.newOutputStream(input))) {
      out.write(array.append("\n]").toString().getBytes(StandardCharsets.UTF_8));
    }
    Path output = dir.resolve("out.jsonl");

    int code = StreamsAppCli.commandLine().execute("mask", "--model",
        TestModels.qwen3Dir().toString(), "--input", input.toString(), "--format", "messages",
        "--reasoning", "exclude", "--output", output.toString());

    assertThat(code).isZero();
    List<String> lines = Files.readAllLines(output, StandardCharsets.UTF_8);
    assertThat(lines).hasSize(3);
    for (int i = 0; i < 2; i++) {
      JsonNode line = TestModels.JSON.readTree(lines.get(i));
      JsonNode reference = null;
      for (JsonNode c : TestModels.json("/fixtures/qwen3-label-fixtures.json").get("cases")) {
        if (c.get("id").asText().equals(ids.get(i))) {
          reference = c;
        }
      }
      assertThat(line.get("id").asText()).isEqualTo(ids.get(i));
      assertThat(line.get("input_ids")).as(ids.get(i)).isEqualTo(reference.get("input_ids"));
      assertThat(line.get("labels")).as(ids.get(i)).isEqualTo(reference.get("labels"));
    }
    assertThat(TestModels.JSON.readTree(lines.get(2)).get("error").get("reason").asText())
        .as("Qwen3's template refuses content null beside a call").isEqualTo("TEMPLATE_REFUSED");
  }

  @Test
  void aBadModelDirectoryIsAnErrorNamingTheFile(@TempDir Path dir) throws Exception {
    Path input = dir.resolve("in.jsonl");
    Files.writeString(input, "");
    var err = new java.io.StringWriter();
    var cli = StreamsAppCli.commandLine();
    cli.setErr(new java.io.PrintWriter(err));
    int code = cli.execute("mask", "--model", dir.toString(), "--input", input.toString(),
        "--output", dir.resolve("out.jsonl").toString());
    assertThat(code).isEqualTo(2);
    assertThat(err.toString()).contains("error: ").contains("tokenizer.json: missing");
  }
}
