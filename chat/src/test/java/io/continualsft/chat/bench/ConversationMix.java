package io.continualsft.chat.bench;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Message;
import io.continualsft.schemas.Messages;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A deterministic, realistic mix of chat conversations for benchmarks: 1 to 4 exchanges, a system
 * prompt in half of them, user turns of 20 to 400 characters and answers of 50 to 1,500, about a
 * third in Chinese, some with code blocks and emoji.
 */
public final class ConversationMix {
  private static final String[] EN = ("the a of to and in is it you that he was for on are with as"
      + " his they be at one have this from or had by word but what some we can out other were all"
      + " there when up use your how said an each she which do their time if will way about many"
      + " then them write would like so these her long make thing see him two has look more day"
      + " could go come did number sound no most people my over know water than call first who"
      + " may down side been now find model token train stream kafka adapter gradient").split(" ");
  private static final String ZH = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严";
  private static final String[] EMOJI = {"🙂", "👍🏽", "🎉", "👨‍👩‍👧", "🚀", "✅"};

  private ConversationMix() {}

  /**
   * Writes {@code COUNT} conversations of seed {@code SEED} to {@code FILE} as the JSONL that
   * {@code produce}, {@code mask} and {@code train} read, for benchmarks run outside the JVM.
   *
   * <pre>java -cp chat/target/test-classes:... io.continualsft.chat.bench.ConversationMix FILE COUNT SEED</pre>
   */
  public static void main(String[] args) throws java.io.IOException {
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    List<String> lines = new ArrayList<>();
    for (Conversation c : generate(Integer.parseInt(args[1]), Long.parseLong(args[2]))) {
      var line = json.createObjectNode().put("id", c.getId().toString());
      var messages = line.putArray("messages");
      c.getMessages().forEach(m -> messages.addObject().put("role", m.getRole().toString())
          .put("content", m.getContent().toString()));
      lines.add(json.writeValueAsString(line));
    }
    java.nio.file.Files.write(java.nio.file.Path.of(args[0]), lines);
  }

  public static List<Conversation> generate(int count, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    List<Conversation> out = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      boolean chinese = random.nextInt(3) == 0;
      List<Message> messages = new ArrayList<>();
      if (random.nextBoolean()) {
        messages.add(Messages.of("system", text(random, chinese, 40, 200), null));
      }
      int exchanges = 1 + random.nextInt(4);
      for (int t = 0; t < exchanges; t++) {
        messages.add(Messages.of("user", text(random, chinese, 20, 400), null));
        String answer = text(random, chinese, 50, 1500);
        if (random.nextInt(8) == 0) {
          answer += "\n```python\ndef f(x):\n    return x * " + t + "\n```\n";
        }
        messages.add(Messages.of("assistant", answer, null));
      }
      out.add(Conversation.newBuilder().setId("bench-" + seed + "-" + i).setMessages(messages)
          .setCreatedAt(Instant.ofEpochMilli(1_795_000_000_000L + i)).build());
    }
    return out;
  }

  private static String text(SplittableRandom random, boolean chinese, int min, int max) {
    int length = min + random.nextInt(max - min + 1);
    StringBuilder sb = new StringBuilder(length + 16);
    while (sb.length() < length) {
      if (chinese) {
        sb.append(ZH.charAt(random.nextInt(ZH.length())));
        if (random.nextInt(20) == 0) {
          sb.append(random.nextBoolean() ? "，" : "。");
        }
      } else {
        sb.append(EN[random.nextInt(EN.length)]);
        sb.append(random.nextInt(15) == 0 ? ". " : " ");
      }
      if (random.nextInt(200) == 0) {
        sb.append(EMOJI[random.nextInt(EMOJI.length)]);
      }
    }
    return sb.toString().strip();
  }
}
