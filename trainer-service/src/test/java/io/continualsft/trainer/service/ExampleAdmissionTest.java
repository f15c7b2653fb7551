package io.continualsft.trainer.service;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.RejectionReason;
import io.continualsft.avro.SftExample;
import io.continualsft.chat.labels.AllowedAdapters;
import io.continualsft.chat.labels.LabelContract;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** One decision per example, for every reason an example can be refused. */
class ExampleAdmissionTest {
  static final String TOKENIZER = "t".repeat(64);
  final ExampleAdmission admission = new ExampleAdmission("default", TOKENIZER, 96, 12, 0.25);

  /** ids 10..10+n, the last {@code trained} of them trained. */
  static SftExample.Builder example(String id, int n, int trained) {
    List<Integer> ids = new ArrayList<>();
    List<Integer> labels = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      ids.add(10 + i);
      labels.add(i >= n - trained ? 10 + i : LabelContract.IGNORE_INDEX);
    }
    return SftExample.newBuilder(TrainerServiceTest.example(id, 0)).setInputIds(ids).setLabels(labels)
        .setTrainedTokens(trained);
  }

  /** A conversation id outside the held-out slice. */
  static String trainedId() {
    for (int i = 0; ; i++) {
      if (!ExampleAdmission.heldOut("id-" + i, 0.25)) {
        return "id-" + i;
      }
    }
  }

  static String heldOutId() {
    for (int i = 0; ; i++) {
      if (ExampleAdmission.heldOut("id-" + i, 0.25)) {
        return "id-" + i;
      }
    }
  }

  ExampleAdmission.Decision admit(SftExample.Builder b) {
    return admission.admit(b.build());
  }

  static ExampleAdmission.Rejected rejected(RejectionReason reason, String detail) {
    return new ExampleAdmission.Rejected(reason, detail);
  }

  @Test
  void aGoodExampleIsTrainedWithItsTrainedTokenCount() {
    ExampleAdmission.Decision d = admit(example(trainedId(), 8, 3));
    assertThat(d).isInstanceOf(ExampleAdmission.Train.class);
    ExampleAdmission.Train t = (ExampleAdmission.Train) d;
    assertThat(t.trainedTokens()).isEqualTo(3);
    assertThat(t.example().ids()).containsExactly(10, 11, 12, 13, 14, 15, 16, 17);
  }

  @Test
  void theHeldOutSliceIsChosenByTheConversationIdAlone() {
    assertThat(admit(example(heldOutId(), 8, 3))).isInstanceOf(ExampleAdmission.HeldOut.class);
    int held = 0;
    for (int i = 0; i < 10_000; i++) {
      held += ExampleAdmission.heldOut("conversation-" + i, 0.25) ? 1 : 0;
    }
    assertThat(held).as("about a quarter").isBetween(2_300, 2_700);
    assertThat(ExampleAdmission.heldOut("anything", 0)).isFalse();
  }

  @Test
  void anotherAdaptersExampleIsNotThisTrainersToUse() {
    assertThat(admit(example(trainedId(), 8, 3).setAdapter("other")))
        .isInstanceOf(ExampleAdmission.OtherAdapter.class);
  }

  @Test
  void everyBrokenRuleHasItsReason() {
    String id = trainedId();
    assertThat(admit(example(id, 8, 3).setTokenizerFingerprint("0".repeat(64))))
        .isEqualTo(rejected(RejectionReason.TOKENIZER_MISMATCH, "made with tokenizer "
            + "0".repeat(64) + ", this trainer's is " + TOKENIZER));
    assertThat(admit(example(id, 8, 3).setLabels(List.of(1, 2))))
        .isEqualTo(rejected(RejectionReason.LABELS_MISALIGNED, "8 ids, 2 labels"));
    assertThat(admit(example(id, 0, 0)))
        .isEqualTo(rejected(RejectionReason.LABELS_MISALIGNED, "0 ids, 0 labels"));
    assertThat(admit(example(id, 13, 3)))
        .isEqualTo(rejected(RejectionReason.TOO_MANY_TOKENS, "13 tokens; train.max-length is 12"));
    List<Integer> outOfRange = new ArrayList<>(example(id, 8, 3).getInputIds());
    outOfRange.set(2, 96);
    assertThat(admit(example(id, 8, 3).setInputIds(outOfRange)))
        .isEqualTo(rejected(RejectionReason.TOKEN_ID_OUT_OF_RANGE, "id 96 at 2; vocabulary 96"));
    List<Integer> negative = new ArrayList<>(example(id, 8, 3).getInputIds());
    negative.set(0, -5);
    assertThat(admit(example(id, 8, 3).setInputIds(negative)))
        .isEqualTo(rejected(RejectionReason.TOKEN_ID_OUT_OF_RANGE, "id -5 at 0; vocabulary 96"));
    List<Integer> wrongLabel = new ArrayList<>(example(id, 8, 3).getLabels());
    wrongLabel.set(7, 40);
    assertThat(admit(example(id, 8, 3).setLabels(wrongLabel)))
        .isEqualTo(rejected(RejectionReason.LABELS_MISALIGNED,
            "label 40 at 7 is neither -100 nor the id"));
    assertThat(admit(example(id, 8, 0)))
        .isEqualTo(rejected(RejectionReason.NO_TRAINED_TOKENS,
            "0 labels are trained, the example says 0"));
    assertThat(admit(example(id, 8, 3).setTrainedTokens(4)))
        .isEqualTo(rejected(RejectionReason.NO_TRAINED_TOKENS,
            "3 labels are trained, the example says 4"));
  }

  /**
   * With adapter.id=*, what names an adapter is the record itself: a name that would break a
   * checkpoint key, a path or a metric tag, and a name not allowed, are refused before any state.
   */
  @Test
  void everyAdapterModeChecksNamesAsTheStreamsAppDoes() {
    ExampleAdmission every = new ExampleAdmission(name -> true,
        AllowedAdapters.parse("team-*,default"), TOKENIZER, 96, 12, 0.25);
    String id = trainedId();
    assertThat(every.admit(example(id, 8, 3).setAdapter("team-a").build()))
        .isInstanceOf(ExampleAdmission.Train.class);
    ExampleAdmission.Decision huge = every.admit(example(id, 8, 3)
        .setAdapter("x".repeat(1 << 20)).build());
    assertThat(huge).isEqualTo(rejected(RejectionReason.INVALID_ID, "the adapter name \""
        + "x".repeat(64) + "...\" (1048576 characters) is not 1-64 letters, digits, '.', '_' or"
        + " '-' starting with a letter or digit"));
    assertThat(every.admit(example(id, 8, 3).setAdapter("../../x").build()))
        .isEqualTo(rejected(RejectionReason.INVALID_ID, "the adapter name \"../../x\" (7"
            + " characters) is not 1-64 letters, digits, '.', '_' or '-' starting with a letter"
            + " or digit"));
    assertThat(every.admit(example("c".repeat(300), 8, 3).setAdapter("team-a").build()))
        .isEqualTo(rejected(RejectionReason.INVALID_ID,
            "the conversation id has 300 characters; at most 256 are allowed"));
    assertThat(every.admit(example(id, 8, 3).setAdapter("mallory").build()))
        .isEqualTo(rejected(RejectionReason.ADAPTER_NOT_ALLOWED,
            "adapter \"mallory\" is not in adapters.allowed (team-*,default)"));
  }

  /** A KTO adapter's admission: "default" learns by kto. */
  final ExampleAdmission kto = new ExampleAdmission(name -> name.equals("default"),
      AllowedAdapters.ANY, TOKENIZER, 96, 12, 0.25,
      io.continualsft.trainer.erasure.Erasures.none(),
      name -> io.continualsft.trainer.config.AdapterObjectives.Kind.KTO);

  /** A rated turn of {@code n} tokens (ids 10..), the completion its last {@code completion}. */
  static io.continualsft.avro.PreferenceExample.Builder preference(String id, int n,
      int completion) {
    List<Integer> ids = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      ids.add(10 + i);
    }
    return io.continualsft.avro.PreferenceExample.newBuilder(
        KtoTrainerServiceTest.preference(id, 0, false)).setInputIds(ids)
        .setCompletionStart(n - completion).setCompletionEnd(n);
  }

  @Test
  void aRatedTurnBecomesARatedExampleScoringItsCompletionOnly() {
    ExampleAdmission.Decision d = kto.admit((Object) preference(trainedId(), 8, 3).build());
    assertThat(d).isInstanceOf(ExampleAdmission.Train.class);
    ExampleAdmission.Train t = (ExampleAdmission.Train) d;
    assertThat(t.trainedTokens()).isEqualTo(3);
    assertThat(t.example().rating()).isEqualTo(io.continualsft.trainer.model.Batch.Rating.UNDESIRABLE);
    assertThat(t.example().ids()).containsExactly(10, 11, 12, 13, 14, 15, 16, 17);
    assertThat(t.example().labels()).containsExactly(-100, -100, -100, -100, -100, 15, 16, 17);
    assertThat(kto.admit((Object) preference(heldOutId(), 8, 3).build()))
        .isInstanceOf(ExampleAdmission.HeldOut.class);
  }

  /** Each adapter learns from one of the two topics; the other's records of it are skipped. */
  @Test
  void aRecordOfTheOtherObjectiveIsSkipped() {
    assertThat(kto.admit((Object) example(trainedId(), 8, 3).build()))
        .isInstanceOf(ExampleAdmission.OtherObjective.class);
    assertThat(admission.admit((Object) preference(trainedId(), 8, 3).build()))
        .isInstanceOf(ExampleAdmission.OtherObjective.class);
    assertThat(kto.admit((Object) preference(trainedId(), 8, 3).setAdapter("other").build()))
        .isInstanceOf(ExampleAdmission.OtherAdapter.class);
  }

  @Test
  void everyBrokenRuleOfARatedTurnHasItsReason() {
    String id = trainedId();
    assertThat(kto.admit(preference(id, 8, 3).setTokenizerFingerprint("0".repeat(64)).build()))
        .isEqualTo(rejected(RejectionReason.TOKENIZER_MISMATCH, "made with tokenizer "
            + "0".repeat(64) + ", this trainer's is " + TOKENIZER));
    assertThat(kto.admit(preference(id, 13, 3).build()))
        .isEqualTo(rejected(RejectionReason.TOO_MANY_TOKENS, "13 tokens; train.max-length is 12"));
    assertThat(kto.admit(preference(id, 8, 8).build()))
        .as("no prompt").isEqualTo(rejected(RejectionReason.LABELS_MISALIGNED,
            "completion [0, 8) is not a non-empty span after a prompt that ends the 8 tokens"));
    assertThat(kto.admit(preference(id, 8, 3).setCompletionEnd(7).build()))
        .as("not at the end").isEqualTo(rejected(RejectionReason.LABELS_MISALIGNED,
            "completion [5, 7) is not a non-empty span after a prompt that ends the 8 tokens"));
    assertThat(kto.admit(preference(id, 8, 3).setCompletionStart(9).build()))
        .isInstanceOf(ExampleAdmission.Rejected.class);
    List<Integer> outOfRange = new ArrayList<>(preference(id, 8, 3).getInputIds());
    outOfRange.set(6, 96);
    assertThat(kto.admit(preference(id, 8, 3).setInputIds(outOfRange).build()))
        .isEqualTo(rejected(RejectionReason.TOKEN_ID_OUT_OF_RANGE, "id 96 at 6; vocabulary 96"));
    assertThat(kto.admit(preference(id, 8, 3).setConversationId("c".repeat(300)).build()))
        .isEqualTo(rejected(RejectionReason.INVALID_ID,
            "the conversation id has 300 characters; at most 256 are allowed"));
  }
}
