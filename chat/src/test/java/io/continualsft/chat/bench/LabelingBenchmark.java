package io.continualsft.chat.bench;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Message;
import io.continualsft.chat.TestModels;
import io.continualsft.chat.format.ChatModel;
import io.continualsft.chat.labels.AssistantLabeler;
import io.continualsft.chat.labels.ChatMessage;
import io.continualsft.chat.labels.LabelingSettings;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Not a test: conversations/s of render + tokenize + label on a realistic mix, against the bare
 * tokenizer on the same rendered strings and the bare render, in the same JVM run.
 *
 * <pre>./mvnw -q -pl streams-app test-compile exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=io.continualsft.chat.bench.LabelingBenchmark [-Dexec.args="2000 5"]</pre>
 */
public final class LabelingBenchmark {
  public static void main(String[] args) throws Exception {
    int count = args.length > 0 ? Integer.parseInt(args[0]) : 2000;
    int runs = args.length > 1 ? Integer.parseInt(args[1]) : 5;
    System.setProperty("ai.djl.offline", "true");
    try (ChatModel model = TestModels.qwen3()) {
      Result r = run(model, ConversationMix.generate(count, 42), runs);
      System.out.println(r.report());
    }
  }

  /** Medians over {@code runs} of each stage, after one warm-up pass. */
  public record Result(int conversations, long tokens, double labelPerSec, double tokenizePerSec,
      double renderPerSec) {
    public String report() {
      return String.format(
          "conversations: %d, tokens: %d (%.0f per conversation)%n"
              + "render+tokenize+label: %,.0f conversations/s (median)%n"
              + "bare tokenizer on the same renders: %,.0f conversations/s (median)%n"
              + "bare render (one per conversation): %,.0f conversations/s (median)%n"
              + "ratio pipeline / bare tokenizer: %.2f",
          conversations, tokens, (double) tokens / conversations, labelPerSec, tokenizePerSec,
          renderPerSec, labelPerSec / tokenizePerSec);
    }
  }

  public static Result run(ChatModel model, List<Conversation> mix, int runs) throws Exception {
    AssistantLabeler labeler = new AssistantLabeler(model,
        LabelingSettings.DEFAULTS.withMaxLength(32_768, LabelingSettings.Truncation.DROP));
    List<List<ChatMessage>> conversations = new ArrayList<>();
    List<List<Map<String, Object>>> templateInputs = new ArrayList<>();
    for (Conversation c : mix) {
      List<ChatMessage> messages = new ArrayList<>();
      List<Map<String, Object>> raw = new ArrayList<>();
      for (Message m : c.getMessages()) {
        messages.add(new ChatMessage(m.getRole(), m.getContent(), null));
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("role", m.getRole());
        map.put("content", m.getContent());
        raw.add(map);
      }
      conversations.add(messages);
      templateInputs.add(raw);
    }
    List<String> renders = new ArrayList<>();
    long tokens = 0;
    for (int i = 0; i < mix.size(); i++) { // warm-up, and the strings for the bare tokenizer
      renders.add(model.render(templateInputs.get(i), null, false));
      tokens += labeler.label(conversations.get(i), null).inputIds().length;
    }
    double[] label = new double[runs];
    double[] tokenize = new double[runs];
    double[] render = new double[runs];
    for (int r = 0; r < runs; r++) {
      long t0 = System.nanoTime();
      for (List<ChatMessage> c : conversations) {
        labeler.label(c, null);
      }
      long t1 = System.nanoTime();
      for (String s : renders) {
        model.tokenizer().ids(s);
      }
      long t2 = System.nanoTime();
      for (List<Map<String, Object>> c : templateInputs) {
        model.render(c, null, false);
      }
      long t3 = System.nanoTime();
      label[r] = mix.size() / ((t1 - t0) / 1e9);
      tokenize[r] = mix.size() / ((t2 - t1) / 1e9);
      render[r] = mix.size() / ((t3 - t2) / 1e9);
    }
    return new Result(mix.size(), tokens, median(label), median(tokenize), median(render));
  }

  static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted[sorted.length / 2];
  }
}
