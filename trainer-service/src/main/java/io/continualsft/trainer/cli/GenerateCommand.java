package io.continualsft.trainer.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.continualsft.streams.model.ChatModel;
import io.continualsft.trainer.lora.PeftAdapter;
import io.continualsft.trainer.model.LlamaModel;
import io.continualsft.trainer.model.ModelLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
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
    try (ChatModel template = ChatModel.load(model, "default", Clock.systemUTC());
        NDManager params = NDManager.newBaseManager(Engines.device(device));
        LlamaModel llm = ModelLoader.load(model, params.newSubManager())) {
      if (adapter != null) {
        PeftAdapter a = PeftAdapter.read(adapter);
        llm.setLora(a.settings(), a.weights());
      }
      String text = template.render(chat, null, true);
      int[] ids = template.tokenizer().encode(text).ids();
      Set<Integer> stop = stopIds(template);
      System.out.println(generate(llm, ids, stop, maxNewTokens, temperature, seed, params,
          template));
    }
    return 0;
  }

  /** The ids of the end-of-sequence and end-of-turn tokens, which end a reply. */
  static Set<Integer> stopIds(ChatModel template) {
    Set<Integer> stop = new java.util.HashSet<>();
    for (String name : List.of("eos_token", "pad_token")) {
      Object token = template.specialTokenVariables().get(name);
      if (token instanceof String s) {
        int[] ids = template.tokenizer().encode(s).ids();
        if (ids.length == 1) {
          stop.add(ids[0]);
        }
      }
    }
    for (String token : List.of("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|endoftext|>")) {
      if (template.specialTokens().contains(token)) {
        stop.add(template.tokenizer().encode(token).ids()[0]);
      }
    }
    return stop;
  }

  /** Prefill the prompt once, then one cached step per new token. */
  static String generate(LlamaModel llm, int[] promptIds, Set<Integer> stop, int maxNew,
      double temperature, long seed, NDManager params, ChatModel template) {
    SplittableRandom random = new SplittableRandom(seed);
    List<Integer> reply = new ArrayList<>();
    try (NDManager gen = params.newSubManager()) {
      LlamaModel.KvCache cache = new LlamaModel.KvCache(llm.config().numLayers());
      NDArray logits = llm.nextLogits(promptIds, cache, gen);
      for (int i = 0; i < maxNew; i++) {
        int next = pick(logits.toFloatArray(), temperature, random);
        if (stop.contains(next)) {
          break;
        }
        reply.add(next);
        logits = llm.nextLogits(new int[] {next}, cache, gen);
      }
    }
    return template.tokenizer().decode(reply.stream().mapToInt(Integer::intValue).toArray());
  }

  static int pick(float[] logits, double temperature, SplittableRandom random) {
    int best = 0;
    for (int i = 1; i < logits.length; i++) {
      if (logits[i] > logits[best]) {
        best = i;
      }
    }
    if (temperature <= 0) {
      return best;
    }
    double[] p = new double[logits.length];
    double sum = 0;
    for (int i = 0; i < p.length; i++) {
      p[i] = Math.exp((logits[i] - logits[best]) / temperature);
      sum += p[i];
    }
    double u = random.nextDouble() * sum;
    for (int i = 0; i < p.length; i++) {
      u -= p[i];
      if (u <= 0) {
        return i;
      }
    }
    return p.length - 1;
  }
}
