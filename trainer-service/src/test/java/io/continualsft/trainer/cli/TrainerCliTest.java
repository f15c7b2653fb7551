package io.continualsft.trainer.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.continualsft.chat.TestModels;
import io.continualsft.chat.format.ChatModel;
import io.continualsft.chat.labels.AssistantLabeler;
import io.continualsft.chat.labels.ChatMessage;
import io.continualsft.chat.labels.LabelingSettings;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * init-model → label (as `streams-app mask` writes it) → eval-loss → generate, on a small random
 * Qwen3 with the real tokenizer: the commands a user runs to see what the model says.
 */
class TrainerCliTest {
  static final Path TOKENIZER = TestModels.qwen3Dir();
  static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void initMaskEvalAndGenerate(@TempDir Path dir) throws Exception {
    Path model = dir.resolve("model");
    assertThat(TrainerCli.commandLine().execute("init-model", "--arch", "qwen3", "--hidden", "32",
        "--layers", "2", "--heads", "2", "--kv-heads", "1", "--intermediate", "64",
        "--tokenizer", TOKENIZER.toString(), "--out", model.toString(), "--seed", "1")).isZero();
    assertThat(model.resolve("config.json")).exists();
    assertThat(model.resolve("model.safetensors")).exists();
    assertThat(model.resolve("tokenizer.json")).exists();
    assertThat(model.resolve("LICENSE")).exists();
    JsonNode config = JSON.readTree(model.resolve("config.json").toFile());
    assertThat(config.get("vocab_size").asInt()).isEqualTo(151_669);
    assertThat(config.get("model_type").asText()).isEqualTo("qwen3");
    assertThat(config.get("tie_word_embeddings").asBoolean()).isTrue();

    Path labelled = dir.resolve("l.jsonl");
    Files.write(labelled, List.of(
        labelled(model, "a", List.of(ChatMessage.of("user", "2+2?"), ChatMessage.of("assistant", "4"))),
        labelled(model, "b", List.of(ChatMessage.of("user", "Hi"),
            ChatMessage.of("assistant", "Hello there, friend.")))));

    String out = capture(() -> TrainerCli.commandLine().execute("eval-loss", "--model",
        model.toString(), "--input", labelled.toString()));
    List<String> lines = out.lines().toList();
    assertThat(lines).hasSize(2);
    for (String line : lines) {
      JsonNode r = JSON.readTree(line);
      // A freshly initialised model is near uniform over 151,669 tokens: ln(151669) = 11.93.
      assertThat(r.get("loss").asDouble()).isBetween(11.5, 12.4);
    }
    JsonNode first = JSON.readTree(lines.get(0));
    JsonNode masked = JSON.readTree(Files.readAllLines(labelled).get(0));
    long trained = 0;
    for (JsonNode l : masked.get("labels")) {
      trained += l.asInt() != -100 ? 1 : 0;
    }
    assertThat(first.get("tokens").asLong()).isEqualTo(trained);

    Path prompt = dir.resolve("prompt.json");
    Files.writeString(prompt, "[{\"role\": \"user\", \"content\": \"2+2?\"}]");
    String reply1 = capture(() -> TrainerCli.commandLine().execute("generate", "--model",
        model.toString(), "--prompt-file", prompt.toString(), "--max-new-tokens", "5"));
    String reply2 = capture(() -> TrainerCli.commandLine().execute("generate", "--model",
        model.toString(), "--prompt-file", prompt.toString(), "--max-new-tokens", "5"));
    assertThat(reply1).as("greedy decoding is deterministic").isEqualTo(reply2);
  }

  @Test
  void initModelUntiesTheHeadOnRequest(@TempDir Path dir) throws Exception {
    Path model = dir.resolve("model");
    assertThat(TrainerCli.commandLine().execute("init-model", "--arch", "llama", "--hidden", "32",
        "--layers", "1", "--heads", "2", "--kv-heads", "1", "--intermediate", "64",
        "--no-tie-embeddings", "--tokenizer", TOKENIZER.toString(), "--out", model.toString()))
        .isZero();
    assertThat(JSON.readTree(model.resolve("config.json").toFile()).get("tie_word_embeddings")
        .asBoolean()).isFalse();
    try (var weights = io.continualsft.trainer.safetensors.Safetensors.open(
        model.resolve("model.safetensors"))) {
      assertThat(weights.tensors()).containsKey("lm_head.weight");
    }
  }

  @Test
  void trainFromAConversationsFileWritesAPeftAdapterAndReportsEverySkippedLine(@TempDir Path dir)
      throws Exception {
    Path model = dir.resolve("model");
    assertThat(TrainerCli.commandLine().execute("init-model", "--arch", "qwen3", "--hidden", "32",
        "--layers", "2", "--heads", "2", "--kv-heads", "1", "--intermediate", "64",
        "--tokenizer", TOKENIZER.toString(), "--out", model.toString(), "--seed", "1")).isZero();
    List<String> lines = new java.util.ArrayList<>();
    for (int i = 0; i < 40; i++) {
      lines.add("{\"id\": \"t-" + i + "\", \"messages\": [{\"role\": \"user\", \"content\":"
          + " \"Please note item " + i + ".\"}, {\"role\": \"assistant\", \"content\":"
          + " \"OK, noted.\"}]}");
    }
    lines.add(3, "{\"id\": \"no-answer\", \"messages\": [{\"role\": \"user\", \"content\":"
        + " \"Hi\"}]}");
    lines.add(7, "not json");
    lines.add(labelled(model, "masked", List.of(ChatMessage.of("user", "2+2?"),
        ChatMessage.of("assistant", "4"))));
    Path input = Files.write(dir.resolve("train.jsonl"), lines);
    Path out = dir.resolve("adapter");
    String log = capture(() -> assertThat(TrainerCli.commandLine().execute("train", "--model",
        model.toString(), "--input", input.toString(), "--output", out.toString(),
        "--target-modules", "all-linear", "--lr", "0.01", "--step-tokens", "40",
        "--eval-fraction", "0.2", "--epochs", "2", "--seed", "3")).isZero());
    System.out.print(log);
    assertThat(log).contains("train.jsonl line 4: NO_ASSISTANT_MESSAGE")
        .contains("train.jsonl line 8: not valid JSON (Unrecognized token 'not'")
        .contains("train: 41 examples").contains("epoch 1 | eval loss ")
        .contains("epoch 2 | eval loss ").contains("| ETA ");
    List<String> printed = log.lines().toList();
    assertThat(printed.get(printed.size() - 2)).matches("trained \\d+ tokens in [0-9.]+ s:"
        + " \\d+ trained tokens/s");
    assertThat(printed.getLast()).isEqualTo("report: " + out.resolve("report.html")
        .toAbsolutePath());
    // The report: a loss point per step, an eval point per epoch, the skipped lines' reasons
    // are the importer's (the refused examples' reasons are counted; none here).
    String report = Files.readString(out.resolve("report.html"));
    assertThat(report).contains("<td>epoch 1</td>", "<td>epoch 2</td>", "id=\"train-loss\"");
    io.continualsft.trainer.lora.PeftAdapter adapter =
        io.continualsft.trainer.lora.PeftAdapter.read(out);
    assertThat(adapter.settings().targetModules()).hasSize(7);
    assertThat(adapter.baseModel()).isEqualTo(model.toString());
    double[] losses = log.lines().filter(l -> l.startsWith("epoch "))
        .mapToDouble(l -> Double.parseDouble(l.replaceAll(".*eval loss ([0-9.]+) .*", "$1")))
        .toArray();
    assertThat(losses[1]).as("the second epoch's held-out loss is lower").isLessThan(losses[0]);

    // The same conversations as ShareGPT records in one gzipped JSON array, an element per line.
    StringBuilder array = new StringBuilder("[\n");
    for (int i = 0; i < 40; i++) {
      array.append("{\"id\": \"t-").append(i).append("\", \"conversations\": [{\"from\":"
          + " \"human\", \"value\": \"Please note item ").append(i).append(".\"}, {\"from\":"
          + " \"gpt\", \"value\": \"OK, noted.\"}]},\n");
    }
    array.append("{\"id\": \"odd\", \"conversations\": [{\"from\": \"narrator\","
        + " \"value\": \"x\"}]}\n]\n");
    Path gz = dir.resolve("train.json.gz");
    try (var o = new java.util.zip.GZIPOutputStream(Files.newOutputStream(gz))) {
      o.write(array.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
    String shareGpt = capture(() -> assertThat(TrainerCli.commandLine().execute("train",
        "--model", model.toString(), "--input", gz.toString(), "--format", "sharegpt",
        "--output", dir.resolve("adapter-sharegpt").toString(), "--step-tokens", "40",
        "--eval-fraction", "0.2", "--seed", "3")).isZero());
    assertThat(shareGpt).contains("train.json.gz line 42: turn 0 is from \"narrator\";")
        .contains("train: 40 examples");
  }

  /** One line of `streams-app mask` output: {"id", "input_ids", "labels"}. */
  private static String labelled(Path model, String id, List<ChatMessage> messages)
      throws Exception {
    try (ChatModel chat = ChatModel.load(model, "default", TestModels.FIXED)) {
      AssistantLabeler.Labeled l = new AssistantLabeler(chat, LabelingSettings.DEFAULTS)
          .label(messages, null);
      ObjectNode line = JSON.createObjectNode().put("id", id);
      java.util.Arrays.stream(l.inputIds()).forEach(line.putArray("input_ids")::add);
      java.util.Arrays.stream(l.labels()).forEach(line.putArray("labels")::add);
      return line.toString();
    }
  }

  private static String capture(Runnable run) {
    PrintStream original = System.out;
    ByteArrayOutputStream buffer = new ByteArrayOutputStream();
    System.setOut(new PrintStream(buffer, true, StandardCharsets.UTF_8));
    try {
      run.run();
    } finally {
      System.setOut(original);
    }
    return buffer.toString(StandardCharsets.UTF_8);
  }
}
