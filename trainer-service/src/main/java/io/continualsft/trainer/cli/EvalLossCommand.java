package io.continualsft.trainer.cli;

import io.continualsft.trainer.model.Engines;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.continualsft.trainer.lora.LoraModel;
import io.continualsft.trainer.lora.PeftAdapter;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.LlamaModel;
import io.continualsft.trainer.model.ModelLoader;
import io.continualsft.trainer.model.SftLoss;
import java.io.BufferedReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "eval-loss", mixinStandardHelpOptions = true,
    description = "Mean cross-entropy over the trained tokens of each example of a JSONL file"
        + " ({\"id\", \"input_ids\", \"labels\"} per line, as `streams-app mask` writes it).")
final class EvalLossCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(names = "--model", required = true) Path model;

  @Option(names = "--adapter", description = "A PEFT adapter directory to apply.") Path adapter;

  @Option(names = "--input", required = true) Path input;

  @Option(names = "--device", defaultValue = "cpu", description = "cpu, gpu or auto (default: ${DEFAULT-VALUE}).")
  String device;

  @Override
  public Integer call() throws Exception {
    double totalLoss = 0;
    long totalTokens = 0;
    int examples = 0;
    int skipped = 0;
    try (NDManager params = NDManager.newBaseManager(Engines.device(device));
        LlamaModel llm = ModelLoader.load(model, params.newSubManager());
        BufferedReader in = Files.newBufferedReader(input, StandardCharsets.UTF_8)) {
      if (adapter != null) {
        PeftAdapter a = PeftAdapter.read(adapter);
        LoraModel.attach(llm, a.settings(), a.weights());
      }
      String line;
      int lineNo = 0;
      while ((line = in.readLine()) != null) {
        lineNo++;
        JsonNode node = JSON.readTree(line);
        ObjectNode out = JSON.createObjectNode();
        out.set("id", node.get("id"));
        if (node.has("error") || !node.has("input_ids")) {
          skipped++; // a line mask could not label: nothing to evaluate
          continue;
        }
        int[] ids = ints(node.get("input_ids"));
        int[] labels = ints(node.get("labels"));
        if (ids.length != labels.length) {
          throw new IllegalArgumentException(input + " line " + lineNo + ": input_ids and labels"
              + " differ in length (" + ids.length + " vs " + labels.length + ")");
        }
        try (NDManager step = params.newSubManager()) {
          SftLoss.Result r = SftLoss.compute(llm,
              Batch.separate(List.of(new Batch.Example(ids, labels)), 0), step);
          double sum = r.sum();
          out.put("loss", sum / r.tokens());
          out.put("tokens", r.tokens());
          totalLoss += sum;
          totalTokens += r.tokens();
          examples++;
        }
        System.out.println(out);
      }
    }
    System.err.printf("eval-loss: %d examples, %d trained tokens, mean loss %.6f%s%n", examples,
        totalTokens, totalTokens == 0 ? Double.NaN : totalLoss / totalTokens,
        skipped > 0 ? ", " + skipped + " lines without labels skipped" : "");
    return 0;
  }

  private static int[] ints(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asInt();
    }
    return out;
  }
}
