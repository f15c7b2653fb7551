package io.continualsft.streams.feedback;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Feedback;
import io.continualsft.avro.Message;
import io.continualsft.chat.labels.LabelingSettings.TrainPolicy;
import io.continualsft.schemas.Messages;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** One small test per rule of {@link FeedbackRules}: turns, policies, corrections, misfits. */
class FeedbackRulesTest {
  static final Instant T0 = Instant.parse("2026-12-06T10:00:00Z");

  static Conversation twoTurns() {
    return Conversation.newBuilder().setId("c1").setCreatedAt(T0).setMessages(List.of(
        Messages.of("user", "q1"), Messages.of("assistant", "a1"), Messages.of("user", "q2"),
        Messages.of("assistant", "a2"))).build();
  }

  static Feedback rating(Integer turn, String rating) {
    return Feedback.newBuilder().setConversationId("c1").setTurn(turn).setRating(rating)
        .setCreatedAt(T0).build();
  }

  static Feedback correction(int turn, String text) {
    return Feedback.newBuilder(rating(turn, "down")).setCorrection(text).build();
  }

  static List<Boolean> flags(Conversation c) {
    return c.getMessages().stream().map(Message::getTrain).toList();
  }

  @Test
  void alwaysChangesNothing() {
    Conversation c = twoTurns();
    FeedbackRules.Applied a = FeedbackRules.apply(c, List.of(rating(1, "down")),
        FeedbackPolicy.ALWAYS, TrainPolicy.ALL);
    assertThat(a.conversation()).isSameAs(c);
    assertThat(a.masked()).isZero();
    assertThat(a.trains()).isTrue();
  }

  @Test
  void notRatedBadMasksTheTurnRatedDownAndLeavesTheRestToThePolicy() {
    FeedbackRules.Applied a = FeedbackRules.apply(twoTurns(), List.of(rating(1, "down"),
        rating(3, "up")), FeedbackPolicy.NOT_RATED_BAD, TrainPolicy.ALL);
    assertThat(flags(a.conversation())).containsExactly(null, false, null, null);
    assertThat(a.masked()).isEqualTo(1);
    assertThat(a.trained()).isEqualTo(1);
    assertThat(a.trains()).isTrue();
  }

  @Test
  void aNullTurnIsTheLastAssistantTurn() {
    FeedbackRules.Applied a = FeedbackRules.apply(twoTurns(), List.of(rating(null, "down")),
        FeedbackPolicy.NOT_RATED_BAD, TrainPolicy.ALL);
    assertThat(flags(a.conversation())).containsExactly(null, null, null, false);
  }

  @Test
  void theLatestRatingOfATurnWins() {
    FeedbackRules.Applied a = FeedbackRules.apply(twoTurns(), List.of(rating(3, "down"),
        rating(3, "up")), FeedbackPolicy.NOT_RATED_BAD, TrainPolicy.ALL);
    assertThat(flags(a.conversation())).containsExactly(null, null, null, null);
    assertThat(a.ratings()).containsExactly(FeedbackRules.Rating.DOWN, FeedbackRules.Rating.UP);
  }

  @Test
  void ratedGoodTrainsOnlyTurnsRatedUpWhateverTheLabellingPolicy() {
    FeedbackRules.Applied a = FeedbackRules.apply(twoTurns(), List.of(rating(1, "up")),
        FeedbackPolicy.RATED_GOOD, TrainPolicy.LAST);
    assertThat(flags(a.conversation())).containsExactly(null, true, null, false);
    assertThat(a.masked()).as("the last turn, which policy last would train").isEqualTo(1);
    assertThat(a.trained()).isEqualTo(1);
  }

  @Test
  void ratedGoodKeepsAProducersExclusion() {
    Conversation c = Conversation.newBuilder(twoTurns()).setMessages(List.of(
        Messages.of("user", "q1"), Messages.of("assistant", "a1", false))).build();
    FeedbackRules.Applied a = FeedbackRules.apply(c, List.of(rating(1, "up")),
        FeedbackPolicy.RATED_GOOD, TrainPolicy.ALL);
    assertThat(flags(a.conversation())).containsExactly(null, false);
    assertThat(a.trains()).isFalse();
  }

  @Test
  void nothingLeftToTrainWhenEveryTurnIsRatedDown() {
    FeedbackRules.Applied a = FeedbackRules.apply(twoTurns(), List.of(rating(1, "down"),
        rating(3, "down")), FeedbackPolicy.NOT_RATED_BAD, TrainPolicy.ALL);
    assertThat(a.trains()).isFalse();
    assertThat(a.masked()).isEqualTo(2);
  }

  @Test
  void aCorrectionReplacesTheReplyIsTrainedAndEndsTheConversation() {
    Conversation c = Conversation.newBuilder(twoTurns()).setMessages(List.of(
        Messages.of("user", "q1"),
        Message.newBuilder(Messages.of("assistant", "a1")).setReasoning("why a1").build(),
        Messages.of("user", "q2"), Messages.of("assistant", "a2"))).build();
    FeedbackRules.Applied a = FeedbackRules.apply(c, List.of(correction(1, "better a1"),
        rating(3, "up")), FeedbackPolicy.RATED_GOOD, TrainPolicy.ALL);
    assertThat(a.conversation().getMessages()).hasSize(2);
    Message corrected = a.conversation().getMessages().get(1);
    assertThat(corrected.getContent()).isEqualTo("better a1");
    assertThat(corrected.getReasoning()).isNull();
    assertThat(corrected.getTrain()).isTrue();
    assertThat(a.corrected()).isEqualTo(1);
    assertThat(a.trains()).isTrue();
    assertThat(a.conversation().getId()).isEqualTo("c1");
  }

  @Test
  void feedbackOnATurnThatIsNotAnAssistantTurnIsAMisfit() {
    FeedbackRules.Applied a = FeedbackRules.apply(twoTurns(), List.of(rating(0, "up"),
        rating(9, "up"), rating(1, "down")), FeedbackPolicy.NOT_RATED_BAD, TrainPolicy.ALL);
    assertThat(a.misfits()).extracting(FeedbackRules.Misfit::index).containsExactly(0, 1);
    assertThat(a.misfits().get(0).detail()).isEqualTo(
        "turn 0 is a user message; feedback judges assistant turns");
    assertThat(a.misfits().get(1).detail()).isEqualTo(
        "turn 9 does not exist: the conversation has 4 messages");
    assertThat(a.ratings()).containsExactly(FeedbackRules.Rating.DOWN);
    assertThat(flags(a.conversation())).containsExactly(null, false, null, null);
  }

  @Test
  void completeOnceEveryAssistantTurnUpToTheFirstCorrectionIsJudged() {
    Conversation c = twoTurns();
    assertThat(FeedbackRules.complete(c, List.of())).isFalse();
    assertThat(FeedbackRules.complete(c, List.of(rating(3, "up")))).isFalse();
    assertThat(FeedbackRules.complete(c, List.of(rating(3, "up"), rating(1, "down")))).isTrue();
    assertThat(FeedbackRules.complete(c, List.of(correction(1, "x")))).isTrue();
    assertThat(FeedbackRules.complete(c, List.of(rating(0, "up"), rating(3, "up")))).isFalse();
  }

  @Test
  void checkNamesWhatIsWrongWithAnEvent() {
    byte[] key = "c1".getBytes(StandardCharsets.UTF_8);
    assertThat(FeedbackRules.check(rating(1, "up"), key, 100)).isNull();
    assertThat(FeedbackRules.check(rating(1, "meh"), key, 100))
        .isEqualTo("the rating \"meh\" is not up or down");
    assertThat(FeedbackRules.check(rating(-1, "up"), key, 100)).startsWith("the turn -1 is negative");
    assertThat(FeedbackRules.check(rating(1, "up"), "c2".getBytes(StandardCharsets.UTF_8), 100))
        .startsWith("the record's key must be the conversation id \"c1\"");
    assertThat(FeedbackRules.check(rating(1, "up"), null, 100)).endsWith("it is null");
    assertThat(FeedbackRules.check(correction(1, " "), key, 100))
        .startsWith("the correction is empty");
    assertThat(FeedbackRules.check(correction(1, "x".repeat(101)), key, 100))
        .startsWith("the correction has 101 characters");
    assertThat(FeedbackRules.check(Feedback.newBuilder(rating(1, "up")).setConversationId("")
        .build(), new byte[0], 100)).isEqualTo("the conversation id is empty");
  }
}
