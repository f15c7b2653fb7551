package io.continualsft.streams.topology;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.RejectionReason;
import io.continualsft.avro.SftExample;
import io.continualsft.chat.TestModels;
import io.continualsft.chat.format.ChatModel;
import io.continualsft.chat.labels.ExampleLabeler;
import io.continualsft.chat.labels.LabelingSettings;
import io.continualsft.schemas.Messages;
import io.continualsft.schemas.registry.InMemorySchemaRegistry;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerde;
import io.continualsft.streams.metrics.PipelineMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The processor's own decisions, with the conversation a record decodes to chosen by the test
 * (a stub deserializer, keyed by the record's bytes): a tombstone, a conversation whose
 * preparation fails unexpectedly, and repeats at the edges of the dedup window, judged by the
 * records' own timestamps. Every test ends with no output left.
 */
class ConversationProcessorTest {
  static final Instant T0 = Instant.parse("2026-11-29T10:00:00Z");
  static final Duration WINDOW = Duration.ofHours(1);

  @TempDir Path tmp;
  private final Map<String, Conversation> decodes = new HashMap<>();
  private ChatModel model;
  private TopologyTestDriver driver;
  private PipelineMetrics metrics;
  private TestInputTopic<byte[], byte[]> input;
  private TestOutputTopic<String, SftExample> examples;
  private TestOutputTopic<byte[], Rejection> deadLetters;

  @BeforeEach
  void start() {
    model = TestModels.qwen3();
    InMemorySchemaRegistry registry = new InMemorySchemaRegistry();
    metrics = new PipelineMetrics(new SimpleMeterRegistry());
    Deserializer<Conversation> stub = (topic, bytes) -> bytes == null ? null
        : decodes.get(new String(bytes, StandardCharsets.UTF_8));
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, "processor-test");
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    props.put(StreamsConfig.STATE_DIR_CONFIG, tmp.toString());
    driver = new TopologyTestDriver(SftTopology.buildTopology(
        new TopologySettings("in", "out", "dlq", WINDOW, "processor-test",
            TopologySettings.DEFAULT_MAX_ORIGINAL_BYTES, TopologySettings.DEFAULT_MAX_RECORD_BYTES),
        new SftTopology.SftSerdes(stub, AvroSerde.forValues(SftExample.class, registry),
            AvroSerde.forValues(Rejection.class, registry)),
        new ExampleLabeler(model, LabelingSettings.DEFAULTS, TestModels.FIXED), metrics), props);
    input = driver.createInputTopic("in", new ByteArraySerializer(), new ByteArraySerializer());
    examples = driver.createOutputTopic("out", new StringDeserializer(),
        AvroDeserializer.specific(SftExample.class, registry));
    deadLetters = driver.createOutputTopic("dlq", new ByteArrayDeserializer(),
        AvroDeserializer.specific(Rejection.class, registry));
  }

  @AfterEach
  void stop() {
    assertThat(examples.isEmpty()).as("no unexpected example").isTrue();
    assertThat(deadLetters.isEmpty()).as("no unexpected dead letter").isTrue();
    driver.close();
    model.close();
  }

  private void send(String bytes, Conversation decoded, Instant at) {
    decodes.put(bytes, decoded);
    input.pipeInput("k".getBytes(StandardCharsets.UTF_8),
        bytes.getBytes(StandardCharsets.UTF_8), at);
  }

  private static Conversation answered(String id) {
    return Conversation.newBuilder().setId(id).setAdapter("default").setCreatedAt(T0)
        .setMessages(List.of(Messages.of("user", "Hi"), Messages.of("assistant", "Hello.")))
        .build();
  }

  @Test
  void aTombstoneIsAnErasureMarkerSkippedWithNoOutput() {
    input.pipeInput("k".getBytes(StandardCharsets.UTF_8), null, T0);
    assertThat(deadLetters.isEmpty()).isTrue();
    assertThat(examples.isEmpty()).isTrue();
  }

  /**
   * Preparing is computation on the record alone: an unexpected failure (here, a conversation
   * without a message list, which no schema allows) would fail the same way on every retry, so
   * it is dead-lettered as UNKNOWN with its cause, and the next record is processed.
   */
  @Test
  void anUnexpectedFailureWhilePreparingIsAnUnknownDeadLetterAndTheNextRecordGoesOn() {
    Conversation broken = new Conversation();
    broken.setId("broken");
    broken.setAdapter("default");
    send("broken", broken, T0);
    send("fine", answered("fine"), T0);
    Rejection r = deadLetters.readValue();
    assertThat(r.getReason()).isEqualTo(RejectionReason.UNKNOWN);
    assertThat(r.getDetail()).startsWith("preparing the example failed: ");
    assertThat(examples.readValue().getConversationId()).isEqualTo("fine");
    assertThat(metrics.rejectedCount(RejectionReason.UNKNOWN)).isEqualTo(1.0);
  }

  /** Repeats are judged by the records' timestamps: within the window either way, or not. */
  @Test
  void aRepeatWithinTheWindowIsDroppedAndOneBeyondItIsProcessedAgain() {
    send("a", answered("a"), T0);
    send("a-again-later", answered("a"), T0.plus(WINDOW).minusMillis(1));
    send("a-again-earlier", answered("a"), T0.minus(WINDOW).plusMillis(1));
    send("a-after-the-window", answered("a"), T0.plus(WINDOW).plusSeconds(1));
    assertThat(examples.readValuesToList()).extracting(SftExample::getConversationId)
        .containsExactly("a", "a");
    assertThat(metrics.duplicateCount()).isEqualTo(2.0);
  }
}
