package io.continualsft.trainer.generate;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.continualsft.chat.format.ChatModel;
import io.continualsft.trainer.lora.LoraModel;
import io.continualsft.trainer.lora.PeftAdapter;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.KvCache;
import io.continualsft.trainer.model.LlamaModel;
import io.continualsft.trainer.model.ModelLoader;
import io.continualsft.trainer.model.SftLoss;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * A base model (and optionally a PEFT adapter) opened for use outside training: replies to a chat
 * rendered with the model's own template and a generation prompt (greedy or sampled, with a KV
 * cache), and the mean loss over the trained tokens of labelled examples.
 */
public final class ChatSession implements AutoCloseable {
  private final ChatModel template;
  private final NDManager params;
  private final LlamaModel llm;
  private final Set<Integer> stop;

  private ChatSession(ChatModel template, NDManager params, LlamaModel llm) {
    this.template = template;
    this.params = params;
    this.llm = llm;
    this.stop = template.endOfReplyIds();
  }

  /** Opens {@code modelDir} on {@code params}' device, with {@code adapterDir} applied if given. */
  public static ChatSession open(Path modelDir, Path adapterDir, NDManager params) {
    ChatModel template = ChatModel.load(modelDir, "default", Clock.systemUTC());
    try {
      LlamaModel llm = ModelLoader.load(modelDir, params.newSubManager());
      if (adapterDir != null) {
        PeftAdapter adapter = PeftAdapter.read(adapterDir);
        LoraModel.attach(llm, adapter.settings(), adapter.weights());
      }
      return new ChatSession(template, params, llm);
    } catch (RuntimeException e) {
      template.close();
      throw e;
    }
  }

  public LlamaModel model() {
    return llm;
  }

  /** The reply to {@code chat} ({@code role}/{@code content} maps); temperature 0 is greedy. */
  public String reply(List<Map<String, Object>> chat, int maxNewTokens, double temperature,
      long seed) {
    String text = template.render(chat, null, true);
    int[] ids = template.tokenizer().encode(text).ids();
    SplittableRandom random = new SplittableRandom(seed);
    List<Integer> reply = new ArrayList<>();
    try (NDManager gen = params.newSubManager()) {
      KvCache cache = new KvCache(llm.config().numLayers());
      NDArray logits = llm.nextLogits(ids, cache, gen); // prefill once, then one step per token
      for (int i = 0; i < maxNewTokens; i++) {
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

  /** Mean cross-entropy over the trained tokens of {@code examples}, token-weighted. */
  public double meanLoss(List<Batch.Example> examples) {
    double sum = 0;
    long tokens = 0;
    for (Batch.Example e : examples) {
      try (NDManager step = params.newSubManager()) {
        SftLoss.Result r = SftLoss.compute(llm, Batch.separate(List.of(e), 0), step);
        sum += r.sum();
        tokens += r.tokens();
      }
    }
    return tokens == 0 ? Double.NaN : sum / tokens;
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

  @Override
  public void close() {
    llm.close();
    template.close();
  }
}
