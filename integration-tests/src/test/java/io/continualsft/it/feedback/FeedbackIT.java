package io.continualsft.it.feedback;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.continualsft.avro.Conversation;
import io.continualsft.avro.Feedback;
import io.continualsft.avro.Message;
import io.continualsft.avro.PreferenceExample;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.RejectionReason;
import io.continualsft.avro.SftExample;
import io.continualsft.chat.format.ChatModel;
import io.continualsft.chat.labels.ExampleLabeler;
import io.continualsft.chat.labels.LabelingSettings;
import io.continualsft.chat.labels.RejectedException;
import io.continualsft.it.support.Clients;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.it.support.TestConfigs;
import io.continualsft.it.support.TestDirs;
import io.continualsft.it.trainer.TrainerFixtures;
import io.continualsft.schemas.Messages;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.streams.StreamsApp;
import io.continualsft.streams.config.StreamsAppConfig;
import io.continualsft.streams.feedback.FeedbackPolicy;
import io.continualsft.streams.metrics.FeedbackMetrics;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.train.AdapterTraining;
import io.continualsft.trainer.train.Kto;
import io.continualsft.trainer.config.AdapterObjectives;
import io.continualsft.trainer.service.ExampleAdmission;
import io.continualsft.trainer.service.Published;
import io.continualsft.trainer.service.TrainerService;
import io.continualsft.avro.CheckpointManifest;
import io.continualsft.it.trainer.TrainerServiceIT;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

/**
 * Feedback on the real broker and registry. A stream in which 40 % of the assistant replies are
 * wrong (German, or gibberish) and rated down, the rest rated up, half of the feedback sent before
 * its conversation and half after: with {@code not-rated-bad} and {@code rated-good} the examples
 * are exactly those of the good replies alone, and a LoRA trained on them ends where one trained
 * on the good replies alone does; with {@code always} it learns the wrong replies too and its
 * held-out loss on good replies is worse. KTO on the stream's preference examples (the base model
 * with the adapter off as its reference) raises the reward accuracy on held-out rated turns over
 * the base's, and so does the streaming trainer with {@code objective=kto} reading the preference
 * examples topic, every candidate gated against the one before. Then a correction trained as the
 * reply (exact labels), an orphan and a late rating dead-lettered.
 */
@RealServices
class FeedbackIT {
  static final int CONVERSATIONS = 60;
  static final int HELD_OUT = 15;
  static final int KTO_EPOCHS = 6;
  static final Instant T0 = Instant.parse("2026-12-06T12:00:00Z");
  static final String[] FIRST = {"Noted.", "Noted, thank you."};
  static final String SECOND = "Saved. Anything else?";

  /** Conversation {@code i}'s turn {@code t} (0 or 1) is wrong: 4 of every 10 turns. */
  static boolean wrong(int i, int t) {
    return switch (i % 5) {
      case 0 -> true;
      case 1 -> t == 0;
      case 2 -> t == 1;
      default -> false;
    };
  }

  static String wrongReply(int i, int t, Random random) {
    if ((i + t) % 2 == 0) {
      return "Nein, das speichere ich nicht. Frag jemand anderen.";
    }
    StringBuilder s = new StringBuilder();
    for (int w = 0; w < 6; w++) {
      for (int c = 0, n = 2 + random.nextInt(4); c < n; c++) {
        s.append((char) ('a' + random.nextInt(26)));
      }
      s.append(w == 5 ? "." : " ");
    }
    return s.toString();
  }

  /** Two-turn conversations: a note to take, then a request to save it. */
  static Conversation conversation(String id, int i, boolean withWrong, Random random) {
    String first = withWrong && wrong(i, 0) ? wrongReply(i, 0, random) : FIRST[i % 2];
    String second = withWrong && wrong(i, 1) ? wrongReply(i, 1, random) : SECOND;
    return Conversation.newBuilder().setId(id).setCreatedAt(T0).setMessages(List.of(
        Messages.of("user", "Please note: the review of item " + i + " moved to "
            + (1 + i % 28) + " March."),
        Messages.of("assistant", first),
        Messages.of("user", "Save that for the team, please (" + i + ")."),
        Messages.of("assistant", second))).build();
  }

  static Feedback rating(String id, int turn, boolean up) {
    return Feedback.newBuilder().setConversationId(id).setTurn(turn).setRating(up ? "up" : "down")
        .setSource("thumbs").setCreatedAt(T0).build();
  }

  record Topics(String conversations, String feedback, String examples, String deadLetters,
      String preferences) {
    static Topics fresh(KafkaCluster kafka, String name) {
      String suffix = name + "-" + UUID.randomUUID().toString().substring(0, 8);
      Topics t = new Topics("conversations-" + suffix, "feedback-" + suffix,
          "examples-" + suffix, "dead-letters-" + suffix, "preference-examples-" + suffix);
      kafka.createTopics(2, t.conversations, t.feedback);
      kafka.createTopics(1, t.examples, t.deadLetters, t.preferences);
      return t;
    }
  }

  private static StreamsApp start(KafkaCluster kafka, SchemaRegistry registry, Topics topics,
      FeedbackPolicy policy, Duration window) {
    return start(kafka, registry, topics, policy, window,
        "sft-feedback-" + UUID.randomUUID().toString().substring(0, 8));
  }

  /** A streams app of {@code applicationId} with a state directory of its own (nothing local). */
  private static StreamsApp start(KafkaCluster kafka, SchemaRegistry registry, Topics topics,
      FeedbackPolicy policy, Duration window, String applicationId) {
    Map<String, String> config = TestConfigs.streamsApp(kafka, registry, applicationId,
        topics.conversations, topics.examples, topics.deadLetters,
        Path.of(System.getProperty("qwen3.dir")), TestDirs.fresh("feedback-state"));
    config.put("topic.feedback", topics.feedback);
    config.put("topic.preference-examples", topics.preferences);
    config.put("train.when", policy.configName());
    config.put("feedback.window", window.toString());
    return StreamsApp.start(StreamsAppConfig.of(config));
  }

  @Test
  void withFeedbackTheWrongRepliesAreNotLearned(KafkaCluster kafka, SchemaRegistry registry)
      throws Exception {
    Random random = new Random(26);
    List<Conversation> stream = new ArrayList<>();
    List<Feedback> before = new ArrayList<>();
    List<Feedback> after = new ArrayList<>();
    for (int i = 0; i < CONVERSATIONS; i++) {
      String id = "c-" + i;
      stream.add(conversation(id, i, true, random));
      for (int t = 0; t < 2; t++) {
        (i % 2 == 0 ? before : after).add(rating(id, 1 + 2 * t, !wrong(i, t)));
      }
    }
    // The good replies alone, labelled directly: wrong turns left out of the training.
    Path qwen3 = Path.of(System.getProperty("qwen3.dir"));
    Map<String, List<Integer>> goodAlone = new LinkedHashMap<>();
    Map<String, List<Integer>> goodAloneIds = new LinkedHashMap<>();
    List<Batch.Example> heldOut = new ArrayList<>();
    List<Kto.Example> heldOutRated = new ArrayList<>();
    try (ChatModel model = ChatModel.load(qwen3, "default", Clock.systemUTC())) {
      ExampleLabeler labeler = new ExampleLabeler(model, LabelingSettings.DEFAULTS,
          Clock.systemUTC());
      for (int i = 0; i < CONVERSATIONS; i++) {
        Conversation c = stream.get(i);
        if (wrong(i, 0) && wrong(i, 1)) {
          continue;
        }
        List<Message> messages = new ArrayList<>(c.getMessages());
        for (int t = 0; t < 2; t++) {
          messages.set(1 + 2 * t, Message.newBuilder(messages.get(1 + 2 * t))
              .setTrain(!wrong(i, t)).build());
        }
        SftExample e = labeler.prepare(Conversation.newBuilder(c).setMessages(messages).build(),
            "good-alone", 0, i).example();
        goodAlone.put(c.getId(), e.getLabels());
        goodAloneIds.put(c.getId(), e.getInputIds());
      }
      for (int i = 0; i < HELD_OUT; i++) {
        SftExample e = labeler.prepare(conversation("held-" + i, 1000 + i, false, random),
            "held-out", 0, i).example();
        heldOut.add(Batch.Example.of(e.getInputIds(), e.getLabels()));
        // Rated turns never trained on, wrong ones as often as in the stream.
        Conversation judged = conversation("held-rated-" + i, 2000 + i, true, random);
        for (int t = 0; t < 2; t++) {
          PreferenceExample p = labeler.preference(judged, 1 + 2 * t, "held-out", 0, i)
              .setDesirable(!wrong(2000 + i, t)).setRating(wrong(2000 + i, t) ? "down" : "up")
              .build();
          heldOutRated.add(Kto.Example.of(p.getInputIds(), p.getCompletionStart(),
              p.getCompletionEnd(), p.getDesirable()));
        }
      }
    }

    Map<FeedbackPolicy, Map<String, SftExample>> made = new LinkedHashMap<>();
    List<PreferenceExample> rated = new ArrayList<>();
    Topics ratedGood = null;
    for (FeedbackPolicy policy : FeedbackPolicy.values()) {
      Topics topics = Topics.fresh(kafka, policy.configName());
      if (policy == FeedbackPolicy.RATED_GOOD) {
        ratedGood = topics;
      }
      int expected = policy == FeedbackPolicy.ALWAYS ? CONVERSATIONS : goodAlone.size();
      try (StreamsApp app = start(kafka, registry, topics, policy, Duration.ofMinutes(5));
          SchemaRegistryClient client = registry.client(true)) {
        AvroSerializer<Feedback> feedback = new AvroSerializer<>(client, false);
        AvroSerializer<Conversation> conversations = new AvroSerializer<>(client, false);
        Clients.produce(kafka, topics.feedback, feedback,
            before.stream().map(Feedback::getConversationId).toList(), before);
        Clients.produce(kafka, topics.conversations, conversations,
            stream.stream().map(Conversation::getId).toList(), stream);
        Clients.produce(kafka, topics.feedback, feedback,
            after.stream().map(Feedback::getConversationId).toList(), after);
        // Every turn is judged: each conversation is released as its last rating arrives, long
        // before its five-minute window would close.
        List<ConsumerRecord<String, SftExample>> examples = Clients.consume(kafka,
            topics.examples, AvroDeserializer.specific(SftExample.class, client), expected,
            Duration.ofSeconds(120));
        assertThat(examples).as(policy.configName()).hasSize(expected);
        Map<String, SftExample> byId = new LinkedHashMap<>();
        examples.forEach(r -> byId.put(r.key(), r.value()));
        made.put(policy, byId);
        FeedbackMetrics metrics = app.metrics().feedback();
        if (policy != FeedbackPolicy.ALWAYS) {
          assertThat(metrics.count(FeedbackMetrics.Outcome.JOINED)).isEqualTo(2.0 * CONVERSATIONS);
          assertThat(metrics.turnCounts()[0]).as("masked turns").isEqualTo(48.0);
          assertThat(metrics.turnCounts()[1]).as("trained turns rated up").isEqualTo(72.0);
          assertThat(metrics.droppedCount(policy == FeedbackPolicy.RATED_GOOD
              ? FeedbackMetrics.Dropped.NOT_RATED_GOOD : FeedbackMetrics.Dropped.RATED_BAD))
              .as("conversations whose both replies were wrong").isEqualTo(12.0);
        }
        assertThat(app.metrics().rejectedCount()).isZero();
        if (policy == FeedbackPolicy.RATED_GOOD) {
          rated.addAll(Clients.consume(kafka, topics.preferences,
              AvroDeserializer.specific(PreferenceExample.class, client), 2 * CONVERSATIONS,
              Duration.ofSeconds(60)).stream().map(ConsumerRecord::value).toList());
          assertThat(rated).as("one per judged turn").hasSize(2 * CONVERSATIONS);
          assertThat(rated.stream().filter(p -> !p.getDesirable())).hasSize(48);
        }
      }
    }
    for (FeedbackPolicy policy : List.of(FeedbackPolicy.NOT_RATED_BAD,
        FeedbackPolicy.RATED_GOOD)) {
      Map<String, List<Integer>> labels = new LinkedHashMap<>();
      made.get(policy).forEach((id, e) -> labels.put(id, e.getLabels()));
      assertThat(labels).as(policy.configName() + ": exactly the good replies' labels")
          .containsExactlyInAnyOrderEntriesOf(goodAlone);
    }

    // Train the same LoRA on each, in the same order (by id), and score the good held-out replies.
    Path modelDir = TrainerFixtures.tinyModel(TestDirs.fresh("feedback-model"));
    double base;
    Map<String, Double> loss = new LinkedHashMap<>();
    try (AdapterTraining probe = AdapterTraining.open(settings(modelDir),
        NDManager.newBaseManager())) {
      base = probe.evalLoss(heldOut);
    }
    Map<String, List<Batch.Example>> runs = new LinkedHashMap<>();
    runs.put("good replies alone", sortedExamples(goodAloneIds, goodAlone));
    for (FeedbackPolicy policy : FeedbackPolicy.values()) {
      Map<String, List<Integer>> labels = new LinkedHashMap<>();
      Map<String, List<Integer>> ids = new LinkedHashMap<>();
      made.get(policy).forEach((id, e) -> {
        labels.put(id, e.getLabels());
        ids.put(id, e.getInputIds());
      });
      runs.put(policy.configName(), sortedExamples(ids, labels));
    }
    for (Map.Entry<String, List<Batch.Example>> run : runs.entrySet()) {
      loss.put(run.getKey(), train(modelDir, run.getValue(), heldOut));
    }
    System.out.printf("[feedback] held-out loss on good replies: base %.4f, %s%n", base,
        String.join(", ", loss.entrySet().stream()
            .map(e -> String.format("%s %.4f", e.getKey(), e.getValue())).toList()));
    double good = loss.get("good replies alone");
    assertThat(good).as("training on the good replies learns them").isLessThan(base * 0.5);
    assertThat(loss.get("not-rated-bad")).isCloseTo(good, org.assertj.core.data.Percentage
        .withPercentage(5));
    assertThat(loss.get("rated-good")).isCloseTo(good, org.assertj.core.data.Percentage
        .withPercentage(5));
    assertThat(loss.get("always")).as("learning the wrong replies too").isGreaterThan(good * 1.2);

    // KTO on the stream's preference examples: the held-out rated turns' implied rewards move
    // the way their ratings point.
    List<Kto.Example> train = rated.stream().sorted(Comparator.comparing(
        PreferenceExample::getConversationId).thenComparing(PreferenceExample::getTurn))
        .map(p -> Kto.Example.of(p.getInputIds(), p.getCompletionStart(), p.getCompletionEnd(),
            p.getDesirable())).toList();
    Kto.Settings kto = Kto.Settings.DEFAULTS;
    try (AdapterTraining training = AdapterTraining.open(settings(modelDir),
        NDManager.newBaseManager())) {
      Kto.Scores untrained = training.scoreKto(heldOutRated, kto);
      for (int epoch = 0; epoch < KTO_EPOCHS; epoch++) {
        for (int from = 0; from < train.size(); from += 8) {
          training.stepKto(train.subList(from, Math.min(train.size(), from + 8)), kto);
        }
      }
      Kto.Scores trained = training.scoreKto(heldOutRated, kto);
      System.out.printf("[feedback] KTO on %d preference examples (%d undesirable): held-out"
          + " reward accuracy %.3f -> %.3f, KTO loss %.4f -> %.4f (%d rated turns)%n",
          train.size(), train.stream().filter(e -> !e.desirable()).count(),
          untrained.rewardAccuracy(), trained.rewardAccuracy(), untrained.loss(), trained.loss(),
          heldOutRated.size());
      assertThat(untrained.rewardAccuracy()).as("the base: every reward 0").isEqualTo(0.5);
      assertThat(trained.rewardAccuracy()).isGreaterThan(0.8);
      assertThat(trained.loss()).isLessThan(untrained.loss());
    }

    // The same through the streaming trainer: objective=kto reads the preference examples
    // topic as it is, holds out a quarter of the conversations' rated turns, and gates each
    // candidate on their KTO loss against the base's (0.5 exactly).
    // The join's output order depends on how its two tasks interleave; the same preference
    // examples in conversation order, on a topic of their own, make the run reproducible.
    String suffix = UUID.randomUUID().toString().substring(0, 8);
    String preferences = "kto-preferences-" + suffix;
    kafka.createTopics(1, preferences);
    List<PreferenceExample> ordered = rated.stream().sorted(Comparator.comparing(
        PreferenceExample::getConversationId).thenComparing(PreferenceExample::getTurn)).toList();
    try (SchemaRegistryClient client = registry.client(true)) {
      Clients.produce(kafka, preferences, new AvroSerializer<PreferenceExample>(client, false),
          ordered.stream().map(p -> p.getConversationId().toString()).toList(), ordered);
    }
    streamingKto(kafka, registry, modelDir, preferences, suffix);
  }

  private static void streamingKto(KafkaCluster kafka, SchemaRegistry registry, Path modelDir,
      String preferences, String suffix) throws Exception {
    String checkpoints = "kto-checkpoints-" + suffix;
    String dlq = "kto-dead-letters-" + suffix;
    String examples = "kto-examples-" + suffix; // an SFT adapter's topic: not read here
    kafka.createTopics(1, checkpoints, dlq, examples);
    TrainerSettings settings = TrainerFixtures.settings(kafka, registry.url(), modelDir,
        examples, dlq, checkpoints, "default", "kto-" + suffix)
        .set(TrainerConfig.OBJECTIVE, AdapterObjectives.parse("kto"))
        .set(TrainerConfig.TOPIC_PREFERENCE_EXAMPLES, preferences)
        .set(TrainerConfig.LORA_DROPOUT, 0.0).set(TrainerConfig.LEARNING_RATE, 0.005)
        .set(TrainerConfig.STEP_EXAMPLES, 4).set(TrainerConfig.STEP_TOKENS, 1_000_000)
        .set(TrainerConfig.REPLAY_FRACTION, 0.5).set(TrainerConfig.EVAL_FRACTION, 0.25)
        .set(TrainerConfig.CHECKPOINT_EVERY_STEPS, 8).build();
    long end;
    try (var consumer = new org.apache.kafka.clients.consumer.KafkaConsumer<byte[], byte[]>(
        Map.<String, Object>of("bootstrap.servers", kafka.bootstrapServers()),
        new org.apache.kafka.common.serialization.ByteArrayDeserializer(),
        new org.apache.kafka.common.serialization.ByteArrayDeserializer())) {
      org.apache.kafka.common.TopicPartition tp =
          new org.apache.kafka.common.TopicPartition(preferences, 0);
      end = consumer.endOffsets(List.of(tp)).get(tp);
    }
    List<Published> published = new java.util.concurrent.CopyOnWriteArrayList<>();
    try (TrainerService service = TrainerService.create(settings)) {
      service.onPublished(published::add);
      java.util.concurrent.atomic.AtomicBoolean stop =
          new java.util.concurrent.atomic.AtomicBoolean();
      java.util.concurrent.CompletableFuture<Void> running =
          java.util.concurrent.CompletableFuture.runAsync(() -> service.run(stop::get));
      try {
        java.time.Instant deadline = java.time.Instant.now().plusSeconds(300);
        while (published.stream().noneMatch(p -> p.offsets().values().iterator().next() == end)) {
          if (running.isDone()) {
            running.get(); // the trainer's failure, as it is
            throw new AssertionError("the trainer stopped");
          }
          assertThat(java.time.Instant.now()).as("a checkpoint through offset " + end)
              .isBefore(deadline);
          Thread.sleep(200);
        }
      } finally {
        stop.set(true);
        running.get();
      }
    }
    long heldOutConversations = java.util.stream.IntStream.range(0, CONVERSATIONS)
        .filter(i -> ExampleAdmission.heldOut("c-" + i, 0.25)).count();
    Published last = published.getLast();
    assertThat(last.examplesTrained()).as("two rated turns of each conversation not held out")
        .isEqualTo(2 * (CONVERSATIONS - heldOutConversations));
    CheckpointManifest manifest;
    try (SchemaRegistryClient client = registry.client(false)) {
      manifest = TrainerServiceIT.newest(kafka, client, checkpoints, "default").orElseThrow()
          .manifest();
    }
    double accuracy = manifest.getMetrics().get("eval_reward_accuracy");
    System.out.printf("[feedback] streaming KTO (objective=kto, steps of 4 + 2 replayed): %d"
        + " rated turns trained, %d held out; v%d eval KTO loss %.4f (base 0.5000), reward"
        + " accuracy %.3f (base 0.500); %d of %d versions released%n", last.examplesTrained(),
        2 * heldOutConversations, last.version(), last.evalLoss(), accuracy,
        published.stream().filter(Published::released).count(), published.size());
    published.forEach(p -> System.out.printf("[feedback]   v%d: eval KTO loss %.4f, %s %s: %s%n",
        p.version(), p.evalLoss(), p.released() ? "released" : "not released", p.reason(),
        p.gate()));
    assertThat(manifest.getSourceOffsets()).extracting(o -> o.getTopic().toString())
        .containsOnly(preferences);
    assertThat(accuracy).as("held-out reward accuracy over the base's 0.5").isGreaterThan(0.9);
    assertThat(last.evalLoss()).isLessThan(0.1);
    assertThat(published).as("each candidate gated against the one before (the base: 0.5)")
        .allSatisfy(p -> assertThat(p.released()).isTrue());
  }

  @Test
  void correctionsAreTrainedAndOrphanAndLateFeedbackIsDeadLettered(KafkaCluster kafka,
      SchemaRegistry registry) throws Exception {
    Topics topics = Topics.fresh(kafka, "corrections");
    Random random = new Random(7);
    Conversation corrected = conversation("fix-1", 3, false, random);
    Conversation judged = conversation("late-1", 4, false, random);
    Conversation silent = conversation("silent-1", 5, false, random);
    Feedback correction = Feedback.newBuilder(rating("fix-1", 1, false))
        .setCorrection("Noted: the review moved.").setSource("edit").build();
    Feedback orphan = rating("ghost-1", 1, true);
    Feedback late = rating("late-1", 3, false);
    try (StreamsApp app = start(kafka, registry, topics, FeedbackPolicy.NOT_RATED_BAD,
        Duration.ofSeconds(3)); SchemaRegistryClient client = registry.client(true)) {
      AvroSerializer<Feedback> feedback = new AvroSerializer<>(client, false);
      AvroSerializer<Conversation> conversations = new AvroSerializer<>(client, false);
      Clients.produce(kafka, topics.feedback, feedback, List.of("fix-1", "ghost-1"),
          List.of(correction, orphan));
      Clients.produce(kafka, topics.conversations, conversations,
          List.of("fix-1", "late-1", "silent-1"), List.of(corrected, judged, silent));
      Clients.produce(kafka, topics.feedback, feedback, List.of("late-1", "late-1"),
          List.of(rating("late-1", 1, true), rating("late-1", 3, true)));
      Map<String, SftExample> examples = new LinkedHashMap<>();
      Clients.consume(kafka, topics.examples, AvroDeserializer.specific(SftExample.class,
          client), 3, Duration.ofSeconds(60)).forEach(r -> examples.put(r.key(), r.value()));
      assertThat(examples).containsOnlyKeys("fix-1", "late-1", "silent-1");
      // late-1 was released when its second rating came: this one is late.
      Clients.produce(kafka, topics.feedback, feedback, List.of("late-1"), List.of(late));

      try (ChatModel model = ChatModel.load(Path.of(System.getProperty("qwen3.dir")), "default",
          Clock.systemUTC())) {
        ExampleLabeler labeler = new ExampleLabeler(model, LabelingSettings.DEFAULTS,
            Clock.systemUTC());
        Conversation target = Conversation.newBuilder(corrected).setMessages(List.of(
            corrected.getMessages().get(0), Message.newBuilder(Messages.of("assistant",
                "Noted: the review moved.")).setTrain(true).build())).build();
        assertThat(examples.get("fix-1").getLabels()).isEqualTo(labels(labeler, target));
        assertThat(examples.get("late-1").getLabels()).isEqualTo(labels(labeler, judged));
        assertThat(examples.get("silent-1").getLabels()).isEqualTo(labels(labeler, silent));
      }
      List<ConsumerRecord<String, Rejection>> dead = Clients.consume(kafka, topics.deadLetters,
          AvroDeserializer.specific(Rejection.class, client), 2, Duration.ofSeconds(60));
      assertThat(dead).hasSize(2);
      Map<RejectionReason, Rejection> byReason = new LinkedHashMap<>();
      dead.forEach(r -> byReason.put(r.value().getReason(), r.value()));
      assertThat(byReason).containsOnlyKeys(RejectionReason.FEEDBACK_ORPHAN,
          RejectionReason.FEEDBACK_LATE);
      assertThat(bytes(byReason.get(RejectionReason.FEEDBACK_ORPHAN).getOriginalValue()))
          .isEqualTo(feedback.serialize(topics.feedback, orphan));
      assertThat(byReason.get(RejectionReason.FEEDBACK_ORPHAN).getSourceTopic())
          .isEqualTo(topics.feedback);
      assertThat(bytes(byReason.get(RejectionReason.FEEDBACK_LATE).getOriginalValue()))
          .isEqualTo(feedback.serialize(topics.feedback, late));
      FeedbackMetrics metrics = app.metrics().feedback();
      assertThat(metrics.count(FeedbackMetrics.Outcome.ORPHANED)).isEqualTo(1.0);
      assertThat(metrics.count(FeedbackMetrics.Outcome.LATE)).isEqualTo(1.0);
      assertThat(metrics.count(FeedbackMetrics.Outcome.JOINED)).isEqualTo(3.0);
      assertThat(metrics.turnCounts()[2]).as("corrected turns").isEqualTo(1.0);
    }
  }

  /**
   * What waits in the join survives the app: conversations half-judged when one instance stops
   * are released, exactly once, by a new instance with an empty state directory (the join's
   * stores restored from their changelogs) when the rest of their feedback comes.
   */
  @Test
  void whatWaitsInTheJoinIsRestoredFromItsChangelog(KafkaCluster kafka, SchemaRegistry registry)
      throws Exception {
    Topics topics = Topics.fresh(kafka, "restart");
    String applicationId = "sft-feedback-restart-" + UUID.randomUUID().toString().substring(0, 8);
    Random random = new Random(3);
    List<Conversation> stream = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      stream.add(conversation("r-" + i, i, true, random));
    }
    try (SchemaRegistryClient client = registry.client(true)) {
      AvroSerializer<Feedback> feedback = new AvroSerializer<>(client, false);
      try (StreamsApp first = start(kafka, registry, topics, FeedbackPolicy.NOT_RATED_BAD,
          Duration.ofMinutes(10), applicationId)) {
        Clients.produce(kafka, topics.conversations, new AvroSerializer<>(client, false),
            stream.stream().map(Conversation::getId).toList(), stream);
        List<Feedback> firstTurns = stream.stream().map(c -> rating(c.getId(), 1,
            !wrong(Integer.parseInt(c.getId().substring(2)), 0))).toList();
        Clients.produce(kafka, topics.feedback, feedback,
            firstTurns.stream().map(Feedback::getConversationId).toList(), firstTurns);
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(60))
            .until(() -> first.metrics().processing().count() >= 20);
        assertThat(Clients.consume(kafka, topics.examples, AvroDeserializer.specific(
            SftExample.class, client), 1, Duration.ofSeconds(3))).as("all still waiting")
            .isEmpty();
      }
      try (StreamsApp second = start(kafka, registry, topics, FeedbackPolicy.NOT_RATED_BAD,
          Duration.ofMinutes(10), applicationId)) {
        List<Feedback> secondTurns = stream.stream().map(c -> rating(c.getId(), 3,
            !wrong(Integer.parseInt(c.getId().substring(2)), 1))).toList();
        Clients.produce(kafka, topics.feedback, feedback,
            secondTurns.stream().map(Feedback::getConversationId).toList(), secondTurns);
        List<ConsumerRecord<String, SftExample>> examples = Clients.consume(kafka,
            topics.examples, AvroDeserializer.specific(SftExample.class, client), 8,
            Duration.ofSeconds(90));
        // r-0 and r-5 had both replies wrong: nothing left to train, dropped.
        assertThat(examples).extracting(ConsumerRecord::key).containsExactlyInAnyOrder(
            "r-1", "r-2", "r-3", "r-4", "r-6", "r-7", "r-8", "r-9");
        try (ChatModel model = ChatModel.load(Path.of(System.getProperty("qwen3.dir")),
            "default", Clock.systemUTC())) {
          ExampleLabeler labeler = new ExampleLabeler(model, LabelingSettings.DEFAULTS,
              Clock.systemUTC());
          for (ConsumerRecord<String, SftExample> r : examples) {
            int i = Integer.parseInt(r.key().substring(2));
            Conversation c = stream.get(i);
            List<Message> messages = new ArrayList<>(c.getMessages());
            for (int t = 0; t < 2; t++) {
              if (wrong(i, t)) {
                messages.set(1 + 2 * t, Message.newBuilder(messages.get(1 + 2 * t))
                    .setTrain(false).build());
              }
            }
            assertThat(r.value().getLabels()).as(r.key()).isEqualTo(labels(labeler,
                Conversation.newBuilder(c).setMessages(messages).build()));
          }
        }
        assertThat(second.metrics().processing().count())
            .as("only the new feedback was read: the rest came back with the state")
            .isEqualTo(10);
        assertThat(second.metrics().feedback().count(FeedbackMetrics.Outcome.JOINED))
            .as("the first turns' ratings, restored, joined with the second ones").isEqualTo(20.0);
        assertThat(second.metrics().feedback().droppedCount(FeedbackMetrics.Dropped.RATED_BAD))
            .isEqualTo(2.0);
        assertThat(second.metrics().rejectedCount()).isZero();
      }
    }
  }

  // --- helpers ---------------------------------------------------------------------------------

  private static List<Integer> labels(ExampleLabeler labeler, Conversation c)
      throws RejectedException {
    return Arrays.stream(labeler.label(c).labels()).boxed().toList();
  }

  private static byte[] bytes(ByteBuffer buffer) {
    ByteBuffer copy = buffer.duplicate();
    byte[] out = new byte[copy.remaining()];
    copy.get(out);
    return out;
  }

  private static List<Batch.Example> sortedExamples(Map<String, List<Integer>> ids,
      Map<String, List<Integer>> labels) {
    return labels.keySet().stream().sorted(Comparator.naturalOrder())
        .map(id -> Batch.Example.of(ids.get(id), labels.get(id))).toList();
  }

  static TrainerSettings settings(Path modelDir) {
    return TrainerSettings.builder().set(TrainerConfig.PRECISION, "fp32")
        .set(TrainerConfig.BOOTSTRAP_SERVERS, "unused:9092")
        .set(TrainerConfig.REGISTRY_URL, "http://unused")
        .set(TrainerConfig.MODEL_DIR, modelDir).set(TrainerConfig.LORA_R, 8)
        .set(TrainerConfig.LORA_ALPHA, 16).set(TrainerConfig.LORA_DROPOUT, 0.0)
        .set(TrainerConfig.LORA_TARGET_MODULES, List.of("all-linear"))
        .set(TrainerConfig.SEED, 26).set(TrainerConfig.MAX_LENGTH, 256)
        .set(TrainerConfig.TOKEN_BUDGET, 2048).set(TrainerConfig.LEARNING_RATE, 0.02)
        .set(TrainerConfig.WARMUP_STEPS, 2).build();
  }

  /** Three epochs of steps of six examples; the held-out loss after. */
  static double train(Path modelDir, List<Batch.Example> examples, List<Batch.Example> heldOut) {
    try (AdapterTraining training = AdapterTraining.open(settings(modelDir),
        NDManager.newBaseManager())) {
      for (int epoch = 0; epoch < 3; epoch++) {
        for (int from = 0; from < examples.size(); from += 6) {
          training.step(examples.subList(from, Math.min(examples.size(), from + 6)));
        }
      }
      return training.evalLoss(heldOut);
    }
  }
}
