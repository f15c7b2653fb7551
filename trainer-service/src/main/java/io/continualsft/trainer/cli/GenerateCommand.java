package io.continualsft.trainer.cli;

import io.continualsft.trainer.model.Engines;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.continualsft.trainer.generate.ChatSession;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "generate", mixinStandardHelpOptions = true,
    description = "Renders a conversation with the model's chat template and a generation prompt,"
        + " then decodes a reply (greedy, or sampled with --temperature) with a KV cache.")
final class GenerateCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(names = "--model", required = true) Path model;

  @Option(names = "--adapter", description = "A PEFT adapter directory to apply.") Path adapter;

  @Option(names = "--prompt-file", required = true,
      description = "JSON: [{\"role\", \"content\"}, ...] or {\"messages\": [...]}.")
  Path promptFile;

  @Option(names = "--max-new-tokens", defaultValue = "64", description = "Default: ${DEFAULT-VALUE}.")
  int maxNewTokens;

  @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default).")
  double temperature;

  @Option(names = "--seed", defaultValue = "0", description = "Sampling seed.") long seed;

  @Option(names = "--device", defaultValue = "cpu", description = "cpu, gpu or auto.") String device;

  @Override
  public Integer call() throws Exception {
    JsonNode prompt = JSON.readTree(Files.readString(promptFile));
    JsonNode messages = prompt.isArray() ? prompt : prompt.path("messages");
    List<Map<String, Object>> chat = new ArrayList<>();
    for (JsonNode m : messages) {
      Map<String, Object> message = new LinkedHashMap<>();
      message.put("role", m.path("role").asText());
      message.put("content", m.path("content").asText());
      chat.add(message);
    }
    try (NDManager params = NDManager.newBaseManager(Engines.device(device));
        ChatSession session = ChatSession.open(model, adapter, params)) {
      System.out.println(session.reply(chat, maxNewTokens, temperature, seed));
    }
    return 0;
  }
}
