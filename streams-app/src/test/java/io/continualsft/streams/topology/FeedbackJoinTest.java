package io.continualsft.streams.topology;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Feedback;
import io.continualsft.avro.Message;
import io.continualsft.avro.PreferenceExample;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.RejectionReason;
import io.continualsft.avro.SftExample;
import io.continualsft.chat.TestModels;
import io.continualsft.chat.format.ChatModel;
import io.continualsft.chat.labels.AllowedAdapters;
import io.continualsft.chat.labels.AssistantLabeler;
import io.continualsft.chat.labels.ExampleLabeler;
import io.continualsft.chat.labels.LabelingSettings;
import io.continualsft.schemas.Messages;
import io.continualsft.schemas.registry.InMemorySchemaRegistry;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerde;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.streams.feedback.FeedbackPolicy;
import io.continualsft.streams.feedback.FeedbackSettings;
import io.continualsft.streams.metrics.FeedbackMetrics;
import io.continualsft.streams.metrics.PipelineMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The feedback join on TopologyTestDriver, its windows moved by the driver's wall clock: either
 * order, early release once every turn is judged, both policies, corrections with exact labels,
 * orphans, late and invalid feedback as dead letters with their bytes. Every test ends with no
 * other output and the join's stores empty.
 */
class FeedbackJoinTest {
  static final String IN = "sft.conversations";
  static final String FEEDBACK = "sft.feedback";
  static final String OUT = "sft.examples";
  static final String DLQ = "sft.conversations.dlq";
  static final String PREFERENCES = "sft.preference-examples";
  static final Duration WINDOW = Duration.ofMinutes(10);
  static final Instant T0 = Instant.parse("2026-12-06T10:00:00Z");

  @TempDir Path tmp;
  private ChatModel model;
  private ExampleLabeler labeler;
  private TopologyTestDriver driver;
  private InMemorySchemaRegistry registry;
  private PipelineMetrics metrics;
  private TestInputTopic<byte[], byte[]> conversations;
  private TestInputTopic<byte[], byte[]> feedback;
  private TestOutputTopic<String, SftExample> examples;
  private TestOutputTopic<byte[], Rejection> deadLetters;
  private TestOutputTopic<String, PreferenceExample> preferences;
  private AvroSerializer<Conversation> conversationSerializer;
  private AvroSerializer<Feedback> feedbackSerializer;

  private void start(FeedbackPolicy policy, int maxPerConversation) {
    model = TestModels.qwen3();
    registry = new InMemorySchemaRegistry();
    metrics = new PipelineMetrics(new SimpleMeterRegistry());
    TopologySettings topology = new TopologySettings(IN, OUT, DLQ, Duration.ofHours(1),
        "sft-test", TopologySettings.DEFAULT_MAX_ORIGINAL_BYTES,
        TopologySettings.DEFAULT_MAX_RECORD_BYTES, AllowedAdapters.ANY,
        new FeedbackSettings(FEEDBACK, policy, WINDOW, maxPerConversation, PREFERENCES));
    SftTopology.SftSerdes serdes = new SftTopology.SftSerdes(
        AvroDeserializer.specific(Conversation.class, registry),
        AvroSerde.forValues(SftExample.class, registry),
        AvroSerde.forValues(Rejection.class, registry),
        AvroDeserializer.specific(Feedback.class, registry),
        AvroSerde.forValues(PreferenceExample.class, registry));
    labeler = new ExampleLabeler(model, LabelingSettings.DEFAULTS, TestModels.FIXED);
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, "sft-test");
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    props.put(StreamsConfig.STATE_DIR_CONFIG, tmp.resolve("state").toString());
    driver = new TopologyTestDriver(SftTopology.buildTopology(topology, serdes, labeler, metrics),
        props, T0);
    conversations = driver.createInputTopic(IN, new ByteArraySerializer(),
        new ByteArraySerializer());
    feedback = driver.createInputTopic(FEEDBACK, new ByteArraySerializer(),
        new ByteArraySerializer());
    examples = driver.createOutputTopic(OUT, new StringDeserializer(),
        AvroDeserializer.specific(SftExample.class, registry));
    deadLetters = driver.createOutputTopic(DLQ, new ByteArrayDeserializer(),
        AvroDeserializer.specific(Rejection.class, registry));
    preferences = driver.createOutputTopic(PREFERENCES, new StringDeserializer(),
        AvroDeserializer.specific(PreferenceExample.class, registry));
    conversationSerializer = new AvroSerializer<>(registry, false);
    feedbackSerializer = new AvroSerializer<>(registry, false);
  }

  private void start(FeedbackPolicy policy) {
    start(policy, 64);
  }

  @AfterEach
  void tearDown() {
    if (driver != null) {
      driver.close();
    }
    if (model != null) {
      model.close();
    }
  }

  // --- helpers ---------------------------------------------------------------------------------

  static Conversation twoTurns(String id) {
    return Conversation.newBuilder().setId(id).setCreatedAt(T0).setMessages(List.of(
        Messages.of("user", "What is 2+2?"), Messages.of("assistant", "It is 4."),
        Messages.of("user", "And 3+3?"), Messages.of("assistant", "Vier und zwei."))).build();
  }

  static Feedback rating(String id, Integer turn, String rating) {
    return Feedback.newBuilder().setConversationId(id).setTurn(turn).setRating(rating)
        .setSource("thumbs").setCreatedAt(T0).build();
  }

  private byte[] send(Conversation c) {
    byte[] value = conversationSerializer.serialize(IN, c);
    conversations.pipeInput(new TestRecord<>(c.getId().getBytes(StandardCharsets.UTF_8), value,
        T0));
    return value;
  }

  private byte[] send(Feedback f) {
    return send(f.getConversationId(), f);
  }

  private byte[] send(String key, Feedback f) {
    byte[] value = feedbackSerializer.serialize(FEEDBACK, f);
    feedback.pipeInput(new TestRecord<>(key.getBytes(StandardCharsets.UTF_8), value, T0));
    return value;
  }

  /** The labels {@code c} gets with the given train flag per message. */
  private List<Integer> labelsOf(Conversation c, Boolean... flags) throws Exception {
    List<Message> messages = new java.util.ArrayList<>();
    for (int i = 0; i < c.getMessages().size(); i++) {
      messages.add(Message.newBuilder(c.getMessages().get(i)).setTrain(flags[i]).build());
    }
    AssistantLabeler.Labeled labeled = labeler.label(Conversation.newBuilder(c)
        .setMessages(messages).build());
    return Arrays.stream(labeled.labels()).boxed().toList();
  }

  /** The preference examples written since the last read: (turn, desirable, corrected). */
  private List<String> preferenceLabels() {
    return preferences.readValuesToList().stream().map(p -> p.getConversationId() + "/"
        + p.getTurn() + (p.getDesirable() ? " desirable" : " undesirable")
        + (p.getCorrected() ? " corrected" : "")).toList();
  }

  private void closeWindows() {
    driver.advanceWallClockTime(WINDOW.plusSeconds(2));
  }

  private Rejection singleDeadLetter(RejectionReason reason, byte[] value) {
    List<TestRecord<byte[], Rejection>> dead = deadLetters.readRecordsToList();
    assertThat(dead).hasSize(1);
    Rejection r = dead.get(0).value();
    assertThat(r.getReason()).isEqualTo(reason);
    assertThat(r.getSourceTopic()).isEqualTo(FEEDBACK);
    ByteBuffer original = r.getOriginalValue().duplicate();
    byte[] bytes = new byte[original.remaining()];
    original.get(bytes);
    assertThat(bytes).isEqualTo(value);
    return r;
  }

  private void assertNothingLeft() {
    assertThat(examples.isEmpty()).as("no unexpected example").isTrue();
    assertThat(deadLetters.isEmpty()).as("no unexpected dead letter").isTrue();
    assertThat(preferences.isEmpty()).as("no unexpected preference example").isTrue();
    KeyValueStore<String, byte[]> states = driver.getKeyValueStore(FeedbackJoin.STATE_STORE);
    KeyValueStore<Object, byte[]> deadlines = driver.getKeyValueStore(
        FeedbackJoin.DEADLINE_STORE);
    try (var all = states.all(); var due = deadlines.all()) {
      assertThat(all.hasNext()).as("nothing waits in the join").isFalse();
      assertThat(due.hasNext()).as("no window is left open").isFalse();
    }
  }

  // --- either order ----------------------------------------------------------------------------

  @Test
  void feedbackBeforeItsConversationMasksTheTurnRatedDownWhenTheWindowCloses() throws Exception {
    start(FeedbackPolicy.NOT_RATED_BAD);
    send(rating("c1", 3, "down"));
    send(twoTurns("c1"));
    assertThat(examples.isEmpty()).as("turn 1 is not judged yet: it waits").isTrue();

    closeWindows();

    SftExample example = examples.readValue();
    assertThat(example.getConversationId()).isEqualTo("c1");
    assertThat(example.getLabels()).isEqualTo(labelsOf(twoTurns("c1"), null, null, null, false));
    assertThat(example.getSourceTopic()).isEqualTo(IN);
    assertThat(example.getSourceOffset()).isZero();
    assertThat(metrics.feedback().count(FeedbackMetrics.Outcome.JOINED)).isEqualTo(1.0);
    assertThat(metrics.feedback().turnCounts()).containsExactly(1.0, 0.0, 0.0);
    assertThat(preferenceLabels()).containsExactly("c1/3 undesirable");
    assertNothingLeft();
  }

  @Test
  void aConversationWhoseEveryTurnIsJudgedIsReleasedAtOnce() throws Exception {
    start(FeedbackPolicy.NOT_RATED_BAD);
    send(twoTurns("c1"));
    send(rating("c1", 1, "down"));
    assertThat(examples.isEmpty()).isTrue();
    send(rating("c1", null, "up"));

    assertThat(examples.readValue().getLabels())
        .isEqualTo(labelsOf(twoTurns("c1"), null, false, null, null));
    assertThat(metrics.feedback().turnCounts()).containsExactly(1.0, 1.0, 0.0);
    assertThat(preferenceLabels()).containsExactly("c1/1 undesirable", "c1/3 desirable");
    assertNothingLeft();
  }

  // --- policies --------------------------------------------------------------------------------

  @Test
  void ratedGoodTrainsOnlyTheTurnRatedUp() throws Exception {
    start(FeedbackPolicy.RATED_GOOD);
    send(twoTurns("c1"));
    send(rating("c1", 1, "up"));
    send(rating("c1", 3, "down"));

    assertThat(examples.readValue().getLabels())
        .isEqualTo(labelsOf(twoTurns("c1"), null, true, null, false));
    assertThat(preferenceLabels()).containsExactly("c1/1 desirable", "c1/3 undesirable");
    assertNothingLeft();
  }

  @Test
  void ratedGoodDropsAndCountsAConversationNobodyRatedUp() {
    start(FeedbackPolicy.RATED_GOOD);
    send(twoTurns("c1"));
    send(twoTurns("c2"));
    send(rating("c2", 3, "down"));
    closeWindows();

    assertThat(metrics.feedback().droppedCount(FeedbackMetrics.Dropped.NOT_RATED_GOOD))
        .isEqualTo(2.0);
    assertThat(metrics.acceptedCount()).isZero();
    assertThat(preferenceLabels()).as("a thumbs down teaches KTO even where SFT drops it")
        .containsExactly("c2/3 undesirable");
    assertNothingLeft();
  }

  @Test
  void notRatedBadDropsAConversationWhoseEveryTurnIsRatedDown() {
    start(FeedbackPolicy.NOT_RATED_BAD);
    send(twoTurns("c1"));
    send(rating("c1", 1, "down"));
    send(rating("c1", 3, "down"));

    assertThat(metrics.feedback().droppedCount(FeedbackMetrics.Dropped.RATED_BAD)).isEqualTo(1.0);
    assertThat(metrics.rejectedCount()).as("not a bad record: no dead letter").isZero();
    assertThat(preferenceLabels()).containsExactly("c1/1 undesirable", "c1/3 undesirable");
    assertNothingLeft();
  }

  @Test
  void notRatedBadTrainsAnUnratedConversationWhenItsWindowCloses() throws Exception {
    start(FeedbackPolicy.NOT_RATED_BAD);
    send(twoTurns("c1"));
    driver.advanceWallClockTime(WINDOW.minusSeconds(30));
    assertThat(examples.isEmpty()).as("still within its window").isTrue();
    driver.advanceWallClockTime(Duration.ofSeconds(32));

    assertThat(examples.readValue().getLabels())
        .isEqualTo(labelsOf(twoTurns("c1"), null, null, null, null));
    assertNothingLeft();
  }

  // --- corrections -----------------------------------------------------------------------------

  @Test
  void aCorrectionIsTrainedAsTheReplyAndTheTurnsAfterItAreCut() throws Exception {
    start(FeedbackPolicy.RATED_GOOD);
    send(twoTurns("c1"));
    send(Feedback.newBuilder(rating("c1", 1, "down")).setCorrection("Two plus two is four.")
        .setSource("edit").build());

    SftExample example = examples.readValue();
    Conversation expected = Conversation.newBuilder(twoTurns("c1")).setMessages(List.of(
        Messages.of("user", "What is 2+2?"), Messages.of("assistant", "Two plus two is four.")))
        .build();
    assertThat(example.getInputIds()).isEqualTo(Arrays.stream(labeler.label(expected).inputIds())
        .boxed().toList());
    assertThat(example.getLabels()).isEqualTo(labelsOf(expected, null, true));
    String trained = model.tokenizer().decode(example.getLabels().stream()
        .filter(l -> l != -100).mapToInt(Integer::intValue).toArray());
    assertThat(trained).contains("Two plus two is four.<|im_end|>").doesNotContain("It is 4.")
        .doesNotContain("Vier");
    assertThat(metrics.feedback().turnCounts()).containsExactly(0.0, 0.0, 1.0);
    List<PreferenceExample> pair = preferences.readValuesToList();
    assertThat(pair).extracting(PreferenceExample::getDesirable).containsExactly(false, true);
    assertThat(pair).extracting(PreferenceExample::getCorrected).containsExactly(false, true);
    assertThat(completion(pair.get(0))).contains("It is 4.");
    assertThat(completion(pair.get(1))).contains("Two plus two is four.");
    assertThat(pair.get(1).getInputIds()).as("the trained example, to the end of its reply")
        .isEqualTo(example.getInputIds().subList(0, pair.get(1).getCompletionEnd()));
    assertNothingLeft();
  }

  // --- preference examples -------------------------------------------------------------------

  @Test
  void eachJudgedTurnIsAPreferenceExampleOfItsPromptAndItsCompletion() throws Exception {
    start(FeedbackPolicy.NOT_RATED_BAD);
    send(twoTurns("c1"));
    send(Feedback.newBuilder(rating("c1", 1, "down")).setScore(0.2).build());
    send(rating("c1", 3, "up"));
    examples.readValue();

    List<PreferenceExample> judged = preferences.readValuesToList();
    assertThat(judged).hasSize(2);
    PreferenceExample first = judged.get(0);
    assertThat(first.getTurn()).isEqualTo(1);
    assertThat(first.getDesirable()).isFalse();
    assertThat(first.getRating()).isEqualTo("down");
    assertThat(first.getScore()).isEqualTo(0.2);
    assertThat(first.getFeedbackSource()).isEqualTo("thumbs");
    assertThat(first.getSourceTopic()).isEqualTo(IN);
    // Exactly the first exchange as SFT labels its reply: the prompt is everything before the
    // reply's trained tokens, the completion those tokens.
    Conversation firstExchange = Conversation.newBuilder(twoTurns("c1"))
        .setMessages(twoTurns("c1").getMessages().subList(0, 2)).build();
    AssistantLabeler.Labeled labeled = labeler.label(firstExchange);
    int start = 0;
    while (labeled.labels()[start] == -100) {
      start++;
    }
    assertThat(first.getCompletionStart()).isEqualTo(start);
    assertThat(first.getCompletionEnd()).isEqualTo(first.getInputIds().size());
    assertThat(first.getInputIds()).isEqualTo(Arrays.stream(labeled.inputIds())
        .limit(first.getCompletionEnd()).boxed().toList());
    assertThat(prompt(first)).endsWith("<|im_start|>assistant\n");
    assertThat(completion(first)).endsWith("It is 4.<|im_end|>");

    PreferenceExample second = judged.get(1);
    assertThat(second.getTurn()).isEqualTo(3);
    assertThat(second.getDesirable()).isTrue();
    assertThat(prompt(second)).contains("What is 2+2?").contains("It is 4.")
        .contains("And 3+3?");
    assertThat(completion(second)).endsWith("Vier und zwei.<|im_end|>");
    assertThat(metrics.feedback().preferenceCounts()).containsExactly(1.0, 1.0);
    assertNothingLeft();
  }

  private String prompt(PreferenceExample p) {
    return model.tokenizer().decode(p.getInputIds().subList(0, p.getCompletionStart()).stream()
        .mapToInt(Integer::intValue).toArray());
  }

  private String completion(PreferenceExample p) {
    return model.tokenizer().decode(p.getInputIds().subList(p.getCompletionStart(),
        p.getCompletionEnd()).stream().mapToInt(Integer::intValue).toArray());
  }

  // --- dead letters ----------------------------------------------------------------------------

  @Test
  void feedbackWhoseConversationNeverComesIsAnOrphan() {
    start(FeedbackPolicy.NOT_RATED_BAD);
    byte[] value = send(rating("ghost", 1, "up"));
    closeWindows();

    Rejection r = singleDeadLetter(RejectionReason.FEEDBACK_ORPHAN, value);
    assertThat(r.getDetail()).isEqualTo(
        "no conversation ghost arrived within feedback.window (PT10M) of this feedback");
    assertThat(metrics.feedback().count(FeedbackMetrics.Outcome.ORPHANED)).isEqualTo(1.0);
    assertNothingLeft();
  }

  @Test
  void feedbackAfterItsConversationWasReleasedIsLate() {
    start(FeedbackPolicy.NOT_RATED_BAD);
    send(twoTurns("c1"));
    closeWindows();
    assertThat(examples.readValue().getConversationId()).isEqualTo("c1");
    byte[] value = send(rating("c1", 1, "down"));

    Rejection r = singleDeadLetter(RejectionReason.FEEDBACK_LATE, value);
    assertThat(r.getDetail()).startsWith("conversation c1 was already released");
    assertThat(metrics.feedback().count(FeedbackMetrics.Outcome.LATE)).isEqualTo(1.0);
    assertNothingLeft();
  }

  @Test
  void feedbackThatCannotBeUsedIsDeadLetteredAndTheConversationStillTrains() throws Exception {
    start(FeedbackPolicy.NOT_RATED_BAD);
    byte[] meh = send(rating("c1", 1, "meh"));
    assertThat(singleDeadLetter(RejectionReason.FEEDBACK_INVALID, meh).getDetail())
        .isEqualTo("the rating \"meh\" is not up or down");
    byte[] wrongKey = send("c2", rating("c1", 1, "up"));
    assertThat(singleDeadLetter(RejectionReason.FEEDBACK_INVALID, wrongKey).getDetail())
        .startsWith("the record's key must be the conversation id \"c1\"");
    byte[] userTurn = send(rating("c1", 0, "down"));
    send(twoTurns("c1"));
    closeWindows();

    assertThat(singleDeadLetter(RejectionReason.FEEDBACK_INVALID, userTurn).getDetail())
        .isEqualTo("feedback on conversation c1: turn 0 is a user message; feedback judges"
            + " assistant turns");
    assertThat(preferenceLabels()).isEmpty();
    assertThat(examples.readValue().getLabels())
        .isEqualTo(labelsOf(twoTurns("c1"), null, null, null, null));
    assertThat(metrics.feedback().count(FeedbackMetrics.Outcome.INVALID)).isEqualTo(3.0);
    assertNothingLeft();
  }

  @Test
  void feedbackOverTheLimitPerConversationIsDeadLettered() throws Exception {
    start(FeedbackPolicy.NOT_RATED_BAD, 2);
    send(rating("c1", 1, "up"));
    send(rating("c1", 1, "up"));
    byte[] third = send(rating("c1", 1, "down"));
    assertThat(singleDeadLetter(RejectionReason.FEEDBACK_INVALID, third).getDetail())
        .isEqualTo("conversation c1 already has 2 feedback events waiting;"
            + " feedback.max-per-conversation is 2");
    send(twoTurns("c1"));
    closeWindows();

    assertThat(examples.readValue().getLabels())
        .as("the third event, thumbs down, was not applied")
        .isEqualTo(labelsOf(twoTurns("c1"), null, null, null, null));
    assertThat(preferenceLabels()).containsExactly("c1/1 desirable");
    assertNothingLeft();
  }

  @Test
  void aRepeatedConversationWaitingForFeedbackIsADuplicate() throws Exception {
    start(FeedbackPolicy.NOT_RATED_BAD);
    send(twoTurns("c1"));
    send(twoTurns("c1"));
    closeWindows();

    assertThat(examples.readValuesToList()).hasSize(1);
    assertThat(metrics.duplicateCount()).isEqualTo(1.0);
    assertNothingLeft();
  }
}
