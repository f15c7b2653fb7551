package io.continualsft.trainer.release;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.continualsft.avro.Conversation;
import io.continualsft.chat.TestModels;
import io.continualsft.chat.labels.ExampleLabeler;
import io.continualsft.chat.labels.LabelContract;
import io.continualsft.chat.labels.LabelingSettings;
import io.continualsft.schemas.Messages;
import io.continualsft.schemas.registry.InMemorySchemaRegistry;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.trainer.model.Batch;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The retention set, labelled by the configured rules, from a file and from a topic. */
class RetentionSetTest {
  static final String OK = "{\"id\": \"k-%d\", \"messages\": [{\"role\": \"user\", \"content\":"
      + " \"Note %d.\"}, {\"role\": \"assistant\", \"content\": \"OK, noted.\"}]}";
  /** Two assistant turns: "all" trains both, "last" only the second. */
  static final String TWO_TURNS = "{\"id\": \"t\", \"messages\": ["
      + "{\"role\": \"user\", \"content\": \"Hi.\"}, {\"role\": \"assistant\", \"content\":"
      + " \"Hello.\"}, {\"role\": \"user\", \"content\": \"Note it.\"}, {\"role\": \"assistant\","
      + " \"content\": \"OK, noted.\"}]}";
  static final String TOPIC = "keep";

  @TempDir Path dir;
  private final ExampleLabeler defaults = ExampleLabeler.open(TestModels.qwen3Dir(), "default",
      LabelingSettings.DEFAULTS, TestModels.FIXED);

  @AfterEach
  void close() {
    defaults.close();
  }

  private List<Batch.Example> read(List<String> lines, int max) throws Exception {
    return read(defaults, lines, max, 256);
  }

  private List<Batch.Example> read(ExampleLabeler labeler, List<String> lines, int max,
      int maxLength) throws Exception {
    Path file = Files.write(dir.resolve("keep.jsonl"), lines);
    return RetentionSet.fromFile(file, labeler, maxLength, max, "retention.file",
        "retention.max-examples");
  }

  private static long trained(Batch.Example e) {
    return Arrays.stream(e.labels()).filter(l -> l != LabelContract.IGNORE_INDEX).count();
  }

  @Test
  void anErasedConversationIsLeftOutOfTheSet() throws Exception {
    Path file = Files.write(dir.resolve("keep.jsonl"), List.of(String.format(OK, 1, 1),
        String.format(OK, 2, 2), String.format(OK, 3, 3)));
    List<Batch.Example> all = RetentionSet.fromFile(file, defaults, 256, 10, "retention.file",
        "retention.max-examples");
    List<Batch.Example> kept = RetentionSet.fromFile(file, defaults, 256, 10, "retention.file",
        "retention.max-examples", c -> c.getId().equals("k-2"));
    assertThat(all).hasSize(3);
    assertThat(kept).hasSize(2);
    assertThat(kept.get(0).ids()).containsExactly(all.get(0).ids());
    assertThat(kept.get(1).ids()).containsExactly(all.get(2).ids());
  }

  @Test
  void conversationsAreLabelledAssistantOnlyWithTheModelsTemplate() throws Exception {
    List<Batch.Example> set = read(List.of(String.format(OK, 1, 1), "", String.format(OK, 2, 2)),
        10);
    assertThat(set).hasSize(2);
    for (Batch.Example e : set) {
      assertThat(e.ids()).hasSameSizeAs(e.labels());
      // Qwen3's template opens the last assistant turn with an empty think block, which is the
      // assistant's: "<think>\n\n</think>\n\n" (4 tokens), "OK, noted." (4), "<|im_end|>".
      assertThat(trained(e)).isEqualTo(9);
    }
  }

  /**
   * The one behaviour the labelling entry point changed: the retention set is labelled by the
   * configured rules, as the stream labels its examples, not by the defaults. With {@code
   * labels.policy=last} only the last assistant turn is trained, in the stream and here.
   */
  @Test
  void theConfiguredRulesLabelTheSetAsTheStreamLabelsItsExamples() throws Exception {
    Batch.Example all = read(List.of(TWO_TURNS), 10).getFirst();
    try (ExampleLabeler last = ExampleLabeler.open(TestModels.qwen3Dir(), "default",
        LabelingSettings.DEFAULTS.withPolicy(LabelingSettings.TrainPolicy.LAST),
        TestModels.FIXED)) {
      Batch.Example lastOnly = read(last, List.of(TWO_TURNS), 10, 256).getFirst();
      assertThat(lastOnly.ids()).containsExactly(all.ids());
      // "Hello", "." and its <|im_end|> are trained under "all" only.
      assertThat(trained(all)).isEqualTo(trained(lastOnly) + 3);
      Conversation c = Conversation.newBuilder().setId("t").setAdapter("a").setCreatedAt(
          Instant.EPOCH).setMessages(List.of(Messages.of("user", "Hi."),
              Messages.of("assistant", "Hello."), Messages.of("user", "Note it."),
              Messages.of("assistant", "OK, noted."))).build();
      assertThat(last.prepare(c, "in", 0, 0).example().getLabels())
          .as("the stream's example of the same conversation, by the same rules")
          .containsExactlyElementsOf(Arrays.stream(lastOnly.labels()).boxed().toList());
    }
  }

  @Test
  void anExampleLongerThanTheTrainersMaxLengthIsRefusedAsItsAdmissionWould() {
    assertThatThrownBy(() -> read(defaults, List.of(String.format(OK, 1, 1)), 10, 8))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("TOO_MANY_TOKENS").hasMessageContaining("train.max-length is 8");
  }

  @Test
  void aBadLineStopsTheTrainerNamingTheFileAndLine() {
    assertThatThrownBy(() -> read(List.of(String.format(OK, 1, 1), "{\"id\": 2}"), 10))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("retention.file").hasMessageContaining("line 2");
    assertThatThrownBy(() -> read(List.of(String.format(OK, 1, 1),
        "{\"id\": \"q\", \"messages\": [{\"role\": \"user\", \"content\": \"no answer\"}]}"), 10))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("keep.jsonl line 2").hasMessageContaining("NO_ASSISTANT_MESSAGE");
  }

  @Test
  void aSetLargerThanTheBoundIsRefusedNamingTheKey() {
    assertThatThrownBy(() -> read(List.of(String.format(OK, 1, 1), String.format(OK, 2, 2),
        String.format(OK, 3, 3)), 2))
        .isInstanceOf(ConfigException.class).hasMessageContaining("retention.max-examples");
    assertThatThrownBy(() -> read(List.of(""), 2))
        .isInstanceOf(ConfigException.class).hasMessageContaining("has no conversation");
  }

  /**
   * A topic is written by others: a record that does not decode, and a conversation that does
   * not label, are skipped (never fatal), and records past the bound are left out.
   */
  @Test
  void aTopicIsReadToItsEndSkippingWhatDoesNotDecodeOrLabel() {
    InMemorySchemaRegistry registry = new InMemorySchemaRegistry();
    AvroSerializer<Conversation> serializer = new AvroSerializer<>(registry, false);
    TopicPartition p0 = new TopicPartition(TOPIC, 0);
    TopicPartition p1 = new TopicPartition(TOPIC, 1);
    MockConsumer<byte[], byte[]> consumer = new MockConsumer<>("earliest");
    consumer.updatePartitions(TOPIC, List.of(new PartitionInfo(TOPIC, 0, null, null, null),
        new PartitionInfo(TOPIC, 1, null, null, null)));
    consumer.updateBeginningOffsets(Map.of(p0, 0L, p1, 0L));
    consumer.updateEndOffsets(Map.of(p0, 3L, p1, 2L));
    consumer.schedulePollTask(() -> {
      consumer.addRecord(record(p0, 0, serializer.serialize(TOPIC, conversation("a", true))));
      consumer.addRecord(record(p0, 1, "not avro".getBytes(StandardCharsets.UTF_8)));
      consumer.addRecord(record(p0, 2, serializer.serialize(TOPIC, conversation("b", false))));
      consumer.addRecord(record(p1, 0, serializer.serialize(TOPIC, conversation("c", true))));
      consumer.addRecord(record(p1, 1, serializer.serialize(TOPIC, conversation("d", true))));
    });
    RetentionSet.Labelled labelled = RetentionSet.fromTopic(consumer, TOPIC,
        AvroDeserializer.specific(Conversation.class, registry), defaults, 256, 3,
        Duration.ofSeconds(30));
    // a, c (b has no assistant turn and is refused; "not avro" is skipped; d is past the bound).
    assertThat(labelled.examples()).hasSize(2);
    assertThat(labelled.examples()).allSatisfy(e -> assertThat(trained(e)).isEqualTo(9));
    assertThat(labelled.refused()).singleElement().satisfies(r -> {
      assertThat(r.where()).isEqualTo("keep-0@2");
      assertThat(r.reason()).startsWith("NO_ASSISTANT_MESSAGE");
    });
    assertThat(consumer.assignment()).containsExactlyInAnyOrder(p0, p1);
  }

  @Test
  void aMissingTopicNamesTheKey() {
    MockConsumer<byte[], byte[]> consumer = new MockConsumer<>("earliest");
    assertThatThrownBy(() -> RetentionSet.fromTopic(consumer, "nope",
        AvroDeserializer.specific(Conversation.class, new InMemorySchemaRegistry()), defaults,
        256, 3, Duration.ofSeconds(1)))
        .isInstanceOf(ConfigException.class).hasMessageContaining("retention.topic")
        .hasMessageContaining("no such topic");
  }

  private static Conversation conversation(String id, boolean answered) {
    return Conversation.newBuilder().setId(id).setAdapter("a").setCreatedAt(Instant.EPOCH)
        .setMessages(answered
            ? List.of(Messages.of("user", "Note 1."), Messages.of("assistant", "OK, noted."))
            : List.of(Messages.of("user", "Note 1."))).build();
  }

  private static ConsumerRecord<byte[], byte[]> record(TopicPartition tp, long offset,
      byte[] value) {
    return new ConsumerRecord<>(tp.topic(), tp.partition(), offset, null, value);
  }
}
