package io.continualsft.local;

import ai.djl.ndarray.NDManager;
import io.continualsft.trainer.generate.ChatSession;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Greedy replies to a few prompts that are not in the bundled sample, before and after. */
final class Replies {
  static final List<String> PROMPTS = List.of("Please note that the printer is out of paper.",
      "Thank you so much!", "请记住：周五下午两点交报告。", "你好！");

  private Replies() {}

  /** The replies of the model in {@code modelDir} with {@code adapter} (null: none) applied. */
  static Map<String, String> of(Path modelDir, Path adapter) {
    try (NDManager params = NDManager.newBaseManager();
        ChatSession session = ChatSession.open(modelDir, adapter, params)) {
      return of(session);
    }
  }

  static Map<String, String> of(ChatSession session) {
    Map<String, String> out = new LinkedHashMap<>();
    for (String prompt : PROMPTS) {
      List<Map<String, Object>> chat = List.of(Map.of("role", "user", "content", prompt));
      out.put(prompt, session.reply(chat, 24, 0, 0));
    }
    return out;
  }
}
