package io.continualsft.it.trainer;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.SftExample;
import io.continualsft.chat.TestModels;
import io.continualsft.chat.format.ChatModel;
import io.continualsft.chat.labels.LabelingSettings;
import io.continualsft.chat.labels.RejectedException;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.schemas.Messages;
import io.continualsft.schemas.SftTopics;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.chat.labels.ExampleLabeler;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.model.ModelConfig;
import io.continualsft.trainer.model.ModelFactory;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/** A tiny model with the real Qwen3 tokenizer, and examples made by the streams app's labeler. */
public final class TrainerFixtures {
  private TrainerFixtures() {}

  /** Qwen3, hidden 32, 2 layers, the Qwen3 tokenizer (its 151,669-token vocabulary). */
  public static Path tinyModel(Path dir) {
    ModelConfig config = new ModelConfig("qwen3", ModelFactory.vocabSize(
        TestModels.qwen3Dir().resolve("tokenizer.json")), 32, 64, 2, 2, 1, 16, 1e-6, 1e6, true,
        false, true, 4096);
    ModelFactory.write(dir, config, 7, 1.0, TestModels.qwen3Dir());
    return dir;
  }

  /** A learnable task: always answer "OK, noted." after a varied request. */
  public static List<Conversation> conversations(int count, String prefix) {
    List<Conversation> out = new ArrayList<>();
    String[] asks = {"Please note that the meeting moved to Tuesday.", "Remember my order number 4411.",
        "The deploy finished at noon.", "Log that the backup ran.", "记下：明天下午三点开会。",
        "Note the new phone number.", "Keep in mind the server is slow today."};
    for (int i = 0; i < count; i++) {
      out.add(Conversation.newBuilder().setId(prefix + "-" + i)
          .setMessages(List.of(Messages.of("user", asks[i % asks.length] + " (" + i + ")", null),
              Messages.of("assistant", "OK, noted.", null)))
          .setCreatedAt(Instant.ofEpochMilli(1_795_000_000_000L + i)).build());
    }
    return out;
  }

  public static List<SftExample> examples(Path modelDir, List<Conversation> conversations, String topic) {
    List<SftExample> out = new ArrayList<>();
    try (ChatModel model = ChatModel.load(modelDir, "default", Clock.systemUTC())) {
      ExampleLabeler labeler = new ExampleLabeler(model, LabelingSettings.DEFAULTS,
          Clock.systemUTC());
      for (int i = 0; i < conversations.size(); i++) {
        try {
          out.add(labeler.prepare(conversations.get(i), SftTopics.CONVERSATIONS, 0, i).example());
        } catch (RejectedException e) {
          throw new IllegalStateException(e.detail());
        }
      }
    }
    return out;
  }

  public static void produce(KafkaCluster kafka, SchemaRegistryClient registry, String topic,
      List<SftExample> examples) throws Exception {
    produce(kafka, registry, topic, examples, e -> null);
  }

  /** As above, each example to the partition {@code partition} gives (null: the key's). */
  public static void produce(KafkaCluster kafka, SchemaRegistryClient registry, String topic,
      List<SftExample> examples, java.util.function.Function<SftExample, Integer> partition)
      throws Exception {
    try (var producer = new KafkaProducer<>(Map.<String, Object>of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ProducerConfig.ACKS_CONFIG, "all", ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true),
        new StringSerializer(), new AvroSerializer<SftExample>(registry, false))) {
      for (SftExample e : examples) {
        producer.send(new ProducerRecord<>(topic, partition.apply(e), e.getConversationId(), e))
            .get();
      }
    }
  }

  /** The releases topic that goes with a test's checkpoint topic. */
  public static String releasesTopic(String checkpoints) {
    return checkpoints + "-releases";
  }

  /**
   * Trainer settings for a fast test: small steps, frequent checkpoints, one thread. The
   * releases topic is {@link #releasesTopic}, created (compacted) on {@code kafka} if missing.
   */
  public static TrainerSettings.Builder settings(KafkaCluster kafka, String registryUrl,
      Path modelDir, String examples, String dlq, String checkpoints, String adapter,
      String txId) {
    kafka.createCompactedTopicIfAbsent(releasesTopic(checkpoints));
    // FP32: the exactness these tests assert is asserted on numbers every CPU computes alike.
    return TrainerSettings.builder().set(TrainerConfig.PRECISION, "fp32")
        .set(TrainerConfig.BOOTSTRAP_SERVERS, kafka.bootstrapServers())
        .set(TrainerConfig.REGISTRY_URL, registryUrl)
        .set(TrainerConfig.AUTO_REGISTER_SCHEMAS, "true")
        .set(TrainerConfig.ADAPTER, adapter)
        .set(TrainerConfig.TRANSACTIONAL_ID, txId)
        .set(TrainerConfig.GROUP_ID, txId)
        .set(TrainerConfig.TOPIC_EXAMPLES, examples)
        .set(TrainerConfig.TOPIC_DEAD_LETTERS, dlq)
        .set(TrainerConfig.TOPIC_CHECKPOINTS, checkpoints)
        .set(TrainerConfig.TOPIC_RELEASES, releasesTopic(checkpoints))
        .set(TrainerConfig.MODEL_DIR, modelDir)
        .set(TrainerConfig.MODEL_NAME, "tiny-qwen3")
        .set(TrainerConfig.LORA_R, 8)
        .set(TrainerConfig.LORA_ALPHA, 16)
        .set(TrainerConfig.LORA_DROPOUT, 0.1)
        .set(TrainerConfig.LORA_TARGET_MODULES, List.of("all-linear"))
        .set(TrainerConfig.SEED, 11)
        .set(TrainerConfig.MAX_LENGTH, 256)
        .set(TrainerConfig.TOKEN_BUDGET, 512)
        .set(TrainerConfig.STEP_TOKENS, 60)
        .set(TrainerConfig.LEARNING_RATE, 0.01)
        .set(TrainerConfig.WARMUP_STEPS, 2)
        .set(TrainerConfig.EVAL_FRACTION, EVAL_FRACTION)
        .set(TrainerConfig.CHECKPOINT_EVERY_STEPS, 2)
        .set(TrainerConfig.CHECKPOINT_EVERY_SECONDS, 3600)
        .set(TrainerConfig.CHUNK_BYTES, 65536)
        .set(TrainerConfig.METRICS_PORT, 0)
        .set(TrainerConfig.PROGRESS_EVERY_STEPS, 1);
  }

  /** {@link #settings}' held-out share. */
  public static final double EVAL_FRACTION = 0.15;
}
