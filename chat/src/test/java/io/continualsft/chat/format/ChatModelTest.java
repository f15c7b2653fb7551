package io.continualsft.chat.format;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.continualsft.chat.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Loading a model directory: what is read from where, and a clear error for each bad file. */
class ChatModelTest {

  @Test
  void theQwen3DirectoryLoads() {
    try (ChatModel model = TestModels.qwen3()) {
      assertThat(model.specialTokens()).contains("<|im_start|>", "<|im_end|>", "<|endoftext|>")
          .doesNotContain("<think>").hasSize(14);
      assertThat(model.specialTokenVariables())
          .containsEntry("eos_token", "<|im_end|>")
          .containsEntry("pad_token", "<|endoftext|>")
          .doesNotContainKey("bos_token"); // null in the config: not passed, so undefined
      assertThat(model.tokenizerFingerprint()).matches("[0-9a-f]{64}");
      assertThat(model.templateFingerprint()).matches("[0-9a-f]{64}");
      assertThat(model.render(List.of(Map.of("role", "user", "content", "hi")), null, true))
          .isEqualTo("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    }
  }

  @Test
  void chatTemplateJinjaWinsOverTheConfigsTemplate(@TempDir Path dir) throws Exception {
    TestModels.withTemplate(dir, "chatml").close();
    Files.writeString(dir.resolve("chat_template.jinja"), "{{ messages[0].content }}!");
    try (ChatModel model = ChatModel.load(dir, "default", TestModels.FIXED)) {
      assertThat(model.render(List.of(Map.of("role", "user", "content", "hi")), null, false))
          .isEqualTo("hi!");
    }
  }

  @Test
  void aNamedTemplateIsPickedFromAList(@TempDir Path dir) throws Exception {
    Files.copy(TestModels.qwen3Dir().resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
    Files.writeString(dir.resolve("tokenizer_config.json"), """
        {"chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"}]}
        """);
    try (ChatModel model = ChatModel.load(dir, "tool_use", TestModels.FIXED)) {
      assertThat(model.render(List.of(), null, false)).isEqualTo("T");
    }
    assertThatThrownBy(() -> ChatModel.load(dir, "rag", TestModels.FIXED))
        .isInstanceOf(ModelDirectoryException.class)
        .hasMessageContaining("tokenizer_config.json")
        .hasMessageContaining("no template named 'rag'")
        .hasMessageContaining("[default, tool_use]");
  }

  @Test
  void eachBrokenDirectoryNamesTheFileAndTheProblem(@TempDir Path dir) throws Exception {
    assertThatThrownBy(() -> ChatModel.load(dir.resolve("nope"), "default", TestModels.FIXED))
        .isInstanceOf(ModelDirectoryException.class).hasMessageContaining("not a directory");

    assertThatThrownBy(() -> ChatModel.load(dir, "default", TestModels.FIXED))
        .isInstanceOf(ModelDirectoryException.class)
        .hasMessageContaining("tokenizer.json: missing");

    Files.writeString(dir.resolve("tokenizer.json"), "{\"truncated\": ");
    assertThatThrownBy(() -> ChatModel.load(dir, "default", TestModels.FIXED))
        .hasMessageContaining("tokenizer.json: not valid JSON");

    Files.copy(TestModels.qwen3Dir().resolve("tokenizer.json"), dir.resolve("tokenizer.json"),
        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": \"<|im_end|>\"}");
    assertThatThrownBy(() -> ChatModel.load(dir, "default", TestModels.FIXED))
        .hasMessageContaining("no chat template");

    Files.writeString(dir.resolve("tokenizer_config.json"),
        "{\"chat_template\": \"{% for m in messages %}{{ m.content }}\"}");
    assertThatThrownBy(() -> ChatModel.load(dir, "default", TestModels.FIXED))
        .hasMessageContaining("tokenizer_config.json: the chat template does not parse")
        .hasMessageContaining("endfor");
  }
}
