package io.continualsft.local;

import ai.djl.ndarray.NDManager;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.SftExample;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.trainer.generate.ChatSession;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.service.ExampleAdmission;
import io.continualsft.trainer.service.Published;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;

/** What a run ended with, read back from Kafka with read_committed, scored and printed. */
public final class RunSummary {
  private RunSummary() {}

  /** What the streams app made of the lines sent. */
  public record Counts(long sent, long examples, long deadLetters, long duplicates) {}

  /** The run's outcome, as printed; {@link LocalRunCommand#summary()} hands it to a caller. */
  public record Summary(Counts counts, int examplesRead,
      Map<String, Integer> deadLettersByReason, List<Published> checkpoints,
      double heldOutLossBefore, double heldOutLossAfter, int heldOutExamples, long tokens,
      Path adapter, Map<String, String> before, Map<String, String> after, double evalFraction) {

    void print(Instant started) {
      Published first = checkpoints.getFirst();
      Published last = checkpoints.getLast();
      LocalRun.say("");
      LocalRun.say("Summary (read back from Kafka with read_committed):");
      LocalRun.say("  conversations in:    %d", counts.sent());
      LocalRun.say("  examples:            %d (%d tokens)", examplesRead, tokens);
      int dead = deadLettersByReason.values().stream().mapToInt(Integer::intValue).sum();
      LocalRun.say("  dead letters:        %d %s", dead, deadLettersByReason);
      LocalRun.say("  duplicates dropped:  %d", counts.duplicates());
      LocalRun.say("  examples + dead letters + duplicates = %d of %d in", examplesRead + dead
          + counts.duplicates(), counts.sent());
      LocalRun.say("  trained:             %d steps, %d examples, %d tokens (the rest held out"
          + " for eval), and %d replayed examples", last.step(), last.examplesTrained(),
          last.tokensTrained(), last.examplesReplayed());
      LocalRun.say("  checkpoints:         %d (eval loss %s -> %s at v%d)", checkpoints.size(),
          format(first.evalLoss()), format(last.evalLoss()), last.version());
      List<String> released = checkpoints.stream().filter(Published::released)
          .map(p -> "v" + p.version()).toList();
      List<String> refused = checkpoints.stream().filter(p -> !p.released())
          .map(p -> "v" + p.version() + " (" + p.reason().tag() + ")").toList();
      LocalRun.say("  releases:            %d %s; refused %d %s", released.size(), released,
          refused.size(), refused);
      if (Double.isFinite(last.retentionLoss())) {
        LocalRun.say("  retention loss:      %s -> %s (the retention set, never trained on)",
            format(first.retentionLoss()), format(last.retentionLoss()));
      }
      if (heldOutExamples == 0) {
        LocalRun.say("  held-out loss:       n/a (no conversation fell in the %.0f %% held-out"
            + " slice)", evalFraction * 100);
      } else {
        LocalRun.say("  held-out loss:       %.4f before -> %.4f after (%d examples never"
            + " trained on)", heldOutLossBefore, heldOutLossAfter, heldOutExamples);
      }
      LocalRun.say("  adapter (PEFT):      %s", adapter);
      LocalRun.say("  took:                %s", LocalRun.human(Duration.between(started,
          Instant.now())));
      LocalRun.say("");
      LocalRun.say("Replies before -> after training (greedy):");
      for (String prompt : Replies.PROMPTS) {
        LocalRun.say("  user:   %s", prompt);
        LocalRun.say("  before: %s", oneLine(before.get(prompt)));
        LocalRun.say("  after:  %s", oneLine(after.get(prompt)));
      }
    }
  }

  /**
   * Reads the examples and dead letters back, scores the held-out slice with the base model and
   * with the pulled adapter, and asks the adapted model the prompts.
   */
  static Summary read(LocalServices services, RunTopics topics, Counts counts,
      List<Published> published, Path modelDir, Path adapter,
      Map<String, String> before, double evalFraction) {
    try (SchemaRegistryClient client = new SchemaRegistryClient(
        services.registryConfig(false))) {
      List<SftExample> examples = readAll(services, topics.examples(),
          AvroDeserializer.specific(SftExample.class, client), counts.examples());
      List<Rejection> dead = readAll(services, topics.conversationsDlq(),
          AvroDeserializer.specific(Rejection.class, client), counts.deadLetters());
      Map<String, Integer> byReason = new TreeMap<>();
      dead.forEach(r -> byReason.merge(r.getReason().name(), 1, Integer::sum));
      List<Batch.Example> heldOut = examples.stream()
          .filter(e -> ExampleAdmission.heldOut(e.getConversationId(), evalFraction))
          .map(e -> Batch.Example.of(e.getInputIds(), e.getLabels()))
          .toList();
      double baseLoss;
      double adaptedLoss;
      Map<String, String> after;
      try (NDManager params = NDManager.newBaseManager()) {
        try (ChatSession base = ChatSession.open(modelDir, null, params)) {
          baseLoss = base.meanLoss(heldOut);
        }
        try (ChatSession adapted = ChatSession.open(modelDir, adapter, params)) {
          adaptedLoss = adapted.meanLoss(heldOut);
          after = Replies.of(adapted);
        }
      }
      long tokens = examples.stream().mapToLong(e -> e.getInputIds().size()).sum();
      return new Summary(counts, examples.size(), byReason, published, baseLoss, adaptedLoss,
          heldOut.size(), tokens, adapter, before, after, evalFraction);
    }
  }

  /** Reads {@code topic} from the start until {@code expected} records arrived or 30 s passed. */
  private static <T> List<T> readAll(LocalServices services, String topic,
      Deserializer<T> values, long expected) {
    try (var consumer = new KafkaConsumer<>(services.kafka(Map.of(
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed")),
        new ByteArrayDeserializer(), values)) {
      TopicPartition partition = new TopicPartition(topic, 0);
      consumer.assign(List.of(partition));
      consumer.seekToBeginning(List.of(partition));
      List<T> out = new ArrayList<>();
      Instant deadline = Instant.now().plusSeconds(30);
      while (out.size() < expected && Instant.now().isBefore(deadline)) {
        for (ConsumerRecord<byte[], T> r : consumer.poll(Duration.ofMillis(200))) {
          out.add(r.value());
        }
      }
      return out;
    }
  }

  private static String format(double loss) {
    return Double.isFinite(loss) ? String.format("%.4f", loss) : "n/a";
  }

  private static String oneLine(String text) {
    String s = text.replace("\n", "\\n");
    return s.length() > 100 ? s.substring(0, 100) + "..." : s;
  }
}
