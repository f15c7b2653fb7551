package io.continualsft.it.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Feedback;
import io.continualsft.avro.PreferenceExample;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.RejectionReason;
import io.continualsft.avro.SftExample;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.schemas.Messages;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.trainer.cli.TrainerCli;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * Physical deletion on the real broker: one subject's conversations (one sent twice) are in the
 * conversations topic, their examples in the examples topic, a correction of theirs in the
 * feedback topic (which names the conversation by id alone), a dead letter of one conversation
 * and one of a feedback event in the dead letters with their original bytes. After {@code forget --subject} and {@code purge}, and the
 * broker's compaction of topics created {@code cleanup.policy=compact,delete}, a scan of every
 * topic finds no byte of the subject's text, no example of theirs, and everything else still
 * there, each record at its offset.
 */
@RealServices
class ErasurePurgeIT {
  private static final String SUBJECT = "subject-purge-1";
  private static final String SECRET = "my locker code is 4411-7731";

  @Test
  void afterPurgeAndCompactionNoTopicHoldsTheErasedText(KafkaCluster kafka,
      SchemaRegistry registry) throws Exception {
    String s = UUID.randomUUID().toString().substring(0, 8);
    String conversations = "conversations-" + s;
    String examples = "examples-" + s;
    String conversationsDlq = "conversations-dlq-" + s;
    String examplesDlq = "examples-dlq-" + s;
    String requests = "erasure-" + s;
    String feedback = "feedback-" + s;
    String preferences = "preference-examples-" + s;
    // Compaction as soon as a segment rolls: what a production topic does within its
    // max.compaction.lag.ms (docs/erasure.md), here within the broker's cleaner backoff.
    Map<String, String> compacted = Map.of("cleanup.policy", "compact,delete",
        "segment.ms", "300", "min.cleanable.dirty.ratio", "0.001", "min.compaction.lag.ms", "0",
        "delete.retention.ms", "1000", "retention.ms", "-1");
    kafka.admin().createTopics(List.of(
        new NewTopic(conversations, 2, (short) 1).configs(compacted),
        new NewTopic(feedback, 2, (short) 1).configs(compacted),
        new NewTopic(preferences, 1, (short) 1).configs(compacted),
        new NewTopic(examples, 1, (short) 1).configs(compacted),
        new NewTopic(conversationsDlq, 1, (short) 1).configs(compacted),
        new NewTopic(examplesDlq, 1, (short) 1).configs(compacted),
        new NewTopic(requests, 1, (short) 1).configs(Map.of("cleanup.policy", "compact"))))
        .all().get();

    List<Conversation> all = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      boolean theirs = i % 10 == 3;
      all.add(Conversation.newBuilder().setId("p-" + i).setSubject(theirs ? SUBJECT : "s-" + i)
          .setMessages(List.of(Messages.of("user", theirs ? "Remember: " + SECRET
              : "Note number " + i, null), Messages.of("assistant", "OK, noted.", null)))
          .setCreatedAt(Instant.ofEpochMilli(1_795_000_000_000L + i)).build());
    }
    List<String> theirIds = all.stream().filter(c -> SUBJECT.equals(c.getSubject()))
        .map(Conversation::getId).toList();
    try (SchemaRegistryClient client = registry.client(true);
        var producer = new KafkaProducer<>(Map.<String, Object>of(
            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()),
            new StringSerializer(),
            new AvroSerializer<org.apache.avro.generic.GenericContainer>(client, false))) {
      AvroSerializer<Conversation> conversationBytes = new AvroSerializer<>(client, false);
      for (Conversation c : all) {
        producer.send(new ProducerRecord<>(conversations, c.getId(), c)).get();
        producer.send(new ProducerRecord<>(examples, 0, c.getId(), example(c))).get();
      }
      // One of theirs sent again (a producer retrying past the dedup window).
      producer.send(new ProducerRecord<>(conversations, theirIds.getFirst(),
          all.get(3))).get();
      // A dead letter of one of theirs, carrying its bytes; and one of someone else's.
      for (Conversation c : List.of(all.get(13), all.get(14))) {
        byte[] original = conversationBytes.serialize(conversations, c);
        producer.send(new ProducerRecord<>(conversationsDlq, 0, c.getId(), Rejection.newBuilder()
            .setReason(RejectionReason.TOO_MANY_TOKENS).setDetail("too long")
            .setOriginalKey(ByteBuffer.wrap(c.getId().getBytes(StandardCharsets.UTF_8)))
            .setOriginalValue(ByteBuffer.wrap(original)).setSourceTopic(conversations)
            .setSourcePartition(0).setSourceOffset(0).setCreatedAt(Instant.EPOCH).build()))
            .get();
      }
      // Feedback names its conversation by id alone: a correction of theirs holding the text, a
      // rating of someone else's; and a late correction of theirs, dead-lettered with its bytes.
      AvroSerializer<Feedback> feedbackBytes = new AvroSerializer<>(client, false);
      Feedback correction = feedback("p-23", "Remember: " + SECRET);
      producer.send(new ProducerRecord<>(feedback, "p-23", correction)).get();
      producer.send(new ProducerRecord<>(feedback, "p-24", feedback("p-24", null))).get();
      // Preference examples carry the subject, as examples do: theirs and someone else's.
      for (Conversation c : List.of(all.get(3), all.get(4))) {
        producer.send(new ProducerRecord<>(preferences, 0, c.getId(), preference(c))).get();
      }
      producer.send(new ProducerRecord<>(conversationsDlq, 0, "p-3", Rejection.newBuilder()
          .setReason(RejectionReason.FEEDBACK_LATE).setDetail("late")
          .setOriginalKey(ByteBuffer.wrap("p-3".getBytes(StandardCharsets.UTF_8)))
          .setOriginalValue(ByteBuffer.wrap(feedbackBytes.serialize(feedback,
              feedback("p-3", "Remember: " + SECRET)))).setSourceTopic(feedback)
          .setSourcePartition(0).setSourceOffset(0).setCreatedAt(Instant.EPOCH).build())).get();
      producer.send(new ProducerRecord<>(examplesDlq, 0, "other", Rejection.newBuilder()
          .setReason(RejectionReason.TOKENIZER_MISMATCH).setDetail("x")
          .setSourceTopic(examples).setSourcePartition(0).setSourceOffset(1)
          .setCreatedAt(Instant.EPOCH).build())).get();
    }
    assertThat(textIn(kafka, conversations)).isEqualTo(4);
    assertThat(textIn(kafka, conversationsDlq)).isEqualTo(2);
    assertThat(textIn(kafka, feedback)).isEqualTo(1);

    String[] cluster = {"--bootstrap", kafka.bootstrapServers(), "--registry", registry.url()};
    assertThat(TrainerCli.commandLine().execute(concat(cluster, "forget", "--subject", SUBJECT,
        "--erasure-topic", requests))).isZero();
    String[] purge = concat(cluster, "purge", "--erasure-topic", requests,
        "--conversations-topic", conversations, "--examples-topic", examples,
        "--feedback-topic", feedback, "--preference-examples-topic", preferences,
        "--dead-letter-topics", conversationsDlq + "," + examplesDlq);
    assertThat(TrainerCli.commandLine().execute(purge)).isZero();
    assertThat(TrainerCli.commandLine().execute(purge)).as("again: nothing new").isZero();
    assertThat(tombstones(kafka, conversations)).as("one per key, not again").isEqualTo(3);
    assertThat(tombstones(kafka, examples)).isEqualTo(3);
    assertThat(tombstones(kafka, conversationsDlq)).isEqualTo(2);
    assertThat(tombstones(kafka, feedback)).isEqualTo(1);
    assertThat(tombstones(kafka, preferences)).isEqualTo(1);
    assertThat(tombstones(kafka, examplesDlq)).isZero();

    // Compaction: a record after segment.ms rolls each segment; the cleaner then runs.
    Instant deadline = Instant.now().plusSeconds(150);
    while (textIn(kafka, conversations) + textIn(kafka, conversationsDlq)
        + textIn(kafka, feedback) > 0 || keyed(kafka, examples, theirIds) > 0
        || keyed(kafka, preferences, theirIds) > 0) {
      assertThat(Instant.now()).as("compaction within 150 s").isBefore(deadline);
      Thread.sleep(1000);
      roll(kafka, conversations, 2);
      roll(kafka, examples, 1);
      roll(kafka, conversationsDlq, 1);
      roll(kafka, feedback, 2);
      roll(kafka, preferences, 1);
    }
    // Everything else is there, at its offset.
    assertThat(keyed(kafka, examples, all.stream().map(Conversation::getId)
        .filter(id -> !theirIds.contains(id)).toList())).isEqualTo(27);
    assertThat(keyed(kafka, conversationsDlq, List.of("p-14"))).isEqualTo(1);
    assertThat(keyed(kafka, feedback, List.of("p-24"))).isEqualTo(1);
    assertThat(keyed(kafka, preferences, List.of("p-4"))).isEqualTo(1);
  }

  private static PreferenceExample preference(Conversation c) {
    return PreferenceExample.newBuilder().setConversationId(c.getId()).setTurn(1)
        .setAdapter("default").setSubject(c.getSubject()).setDesirable(true)
        .setInputIds(List.of(1, 2, 3)).setCompletionStart(1).setCompletionEnd(3)
        .setRating("up").setTokenizerFingerprint("t").setTemplateFingerprint("x")
        .setSourceTopic("c").setSourcePartition(0).setSourceOffset(0)
        .setCreatedAt(Instant.EPOCH).build();
  }

  private static Feedback feedback(String id, String correction) {
    return Feedback.newBuilder().setConversationId(id).setRating("down").setTurn(1)
        .setCorrection(correction).setCreatedAt(Instant.EPOCH).build();
  }

  private static SftExample example(Conversation c) {
    return SftExample.newBuilder().setConversationId(c.getId()).setSubject(c.getSubject())
        .setInputIds(List.of(1, 2, 3)).setLabels(List.of(-100, 2, 3)).setTrainedTokens(2)
        .setTokenizerFingerprint("t").setTemplateFingerprint("x").setSourceTopic("c")
        .setSourcePartition(0).setSourceOffset(0).setCreatedAt(Instant.EPOCH).build();
  }

  private static String[] concat(String[] first, String... rest) {
    List<String> out = new ArrayList<>(List.of(rest[0]));
    out.addAll(List.of(first));
    out.addAll(List.of(rest).subList(1, rest.length));
    return out.toArray(String[]::new);
  }

  /** Writes a record of a key of its own to each partition, so a segment past segment.ms rolls. */
  private static void roll(KafkaCluster kafka, String topic, int partitions) throws Exception {
    try (var producer = new KafkaProducer<>(Map.<String, Object>of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()),
        new ByteArraySerializer(), new ByteArraySerializer())) {
      for (int p = 0; p < partitions; p++) {
        producer.send(new ProducerRecord<>(topic, p, "roll".getBytes(StandardCharsets.UTF_8),
            new byte[0])).get();
      }
    }
  }

  private static List<ConsumerRecord<byte[], byte[]>> scan(KafkaCluster kafka, String topic) {
    try (var consumer = new KafkaConsumer<>(Map.<String, Object>of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted"),
        new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> tps = consumer.partitionsFor(topic).stream()
          .map(p -> new TopicPartition(topic, p.partition())).toList();
      consumer.assign(tps);
      consumer.seekToBeginning(tps);
      Map<TopicPartition, Long> end = consumer.endOffsets(tps);
      List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
      while (tps.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
        consumer.poll(Duration.ofMillis(200)).forEach(out::add);
      }
      return out;
    }
  }

  /** Records of {@code topic} whose bytes hold the secret. */
  private static int textIn(KafkaCluster kafka, String topic) {
    byte[] secret = SECRET.getBytes(StandardCharsets.UTF_8);
    return (int) scan(kafka, topic).stream()
        .filter(r -> r.value() != null && indexOf(r.value(), secret) >= 0).count();
  }

  private static int tombstones(KafkaCluster kafka, String topic) {
    return (int) scan(kafka, topic).stream().filter(r -> r.value() == null).count();
  }

  /** Records of {@code topic} with a value, keyed by one of {@code ids}. */
  private static int keyed(KafkaCluster kafka, String topic, List<String> ids) {
    return (int) scan(kafka, topic).stream().filter(r -> r.value() != null && r.key() != null
        && ids.contains(new String(r.key(), StandardCharsets.UTF_8))).count();
  }

  private static int indexOf(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }
}
