package io.continualsft.trainer.service;

import io.continualsft.avro.RejectionReason;
import io.continualsft.avro.PreferenceExample;
import io.continualsft.avro.SftExample;
import io.continualsft.chat.labels.AllowedAdapters;
import io.continualsft.chat.labels.LabelContract;
import io.continualsft.chat.labels.RejectedException;
import io.continualsft.schemas.Fingerprints;
import io.continualsft.trainer.config.AdapterObjectives;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.train.Kto;
import java.nio.charset.StandardCharsets;

/**
 * What the trainer does with one example, decided without side effects: train on it, hold it out
 * for the eval loss, skip it (another adapter's), or reject it with a reason. An example is
 * checked before use: its conversation id and adapter name by the streams app's own rule ({@link
 * AllowedAdapters#check(String, String)}: they become record keys, manifest fields, metric
 * tags; the adapter allowed by {@code adapters.allowed}), this model's tokenizer, the {@link
 * LabelContract}, within the maximum length, ids within the vocabulary, and the trained-token
 * count it declares. The examples topic is input like any other: a second producer, a restored
 * backup or a bug upstream can write to it, so nothing the streams app checked is taken on
 * trust.
 */
public final class ExampleAdmission {
  /** The decision. */
  public sealed interface Decision {}

  /**
   * Train on it; {@code trainedTokens} counts toward the step's token budget; its conversation
   * and subject go into the lineage of the version it trains.
   */
  public record Train(Batch.Example example, int trainedTokens, String conversationId,
      String subject) implements Decision {
    public Train(Batch.Example example, int trainedTokens) {
      this(example, trainedTokens, "", null);
    }
  }

  /**
   * Erased on request: as if it had never been in the log. Not trained, held out, drawn or
   * dead-lettered.
   */
  public record Erased() implements Decision {}

  /** Keep it for the eval loss, never train on it. */
  public record HeldOut(Batch.Example example) implements Decision {}

  /** Another adapter's example: not this trainer's to use. */
  public record OtherAdapter() implements Decision {}

  /**
   * A record of the other objective's topic for its adapter: a preference example of an SFT
   * adapter, or an SFT example of a KTO adapter. The streams app writes both for every judged
   * turn; each adapter learns from one.
   */
  public record OtherObjective() implements Decision {}

  /** Unusable: a dead letter with this reason. */
  public record Rejected(RejectionReason reason, String detail) implements Decision {}

  private final java.util.function.Predicate<String> trains;
  private final AllowedAdapters allowed;
  private final String tokenizerFingerprint;
  private final int vocabSize;
  private final int maxLength;
  private final double evalFraction;
  private final io.continualsft.trainer.erasure.Erasures erasures;
  private final java.util.function.Function<String, AdapterObjectives.Kind> objectives;

  public ExampleAdmission(String adapter, String tokenizerFingerprint, int vocabSize,
      int maxLength, double evalFraction) {
    this(adapter::equals, AllowedAdapters.ANY, tokenizerFingerprint, vocabSize, maxLength,
        evalFraction);
  }

  /**
   * @param trains whether an adapter's examples are this trainer's (others: OtherAdapter)
   * @param allowed which of those may exist (others: ADAPTER_NOT_ALLOWED)
   */
  public ExampleAdmission(java.util.function.Predicate<String> trains, AllowedAdapters allowed,
      String tokenizerFingerprint, int vocabSize, int maxLength, double evalFraction) {
    this(trains, allowed, tokenizerFingerprint, vocabSize, maxLength, evalFraction,
        io.continualsft.trainer.erasure.Erasures.none());
  }

  /** {@code erasures}: what has been erased (read as it grows). */
  public ExampleAdmission(java.util.function.Predicate<String> trains, AllowedAdapters allowed,
      String tokenizerFingerprint, int vocabSize, int maxLength, double evalFraction,
      io.continualsft.trainer.erasure.Erasures erasures) {
    this(trains, allowed, tokenizerFingerprint, vocabSize, maxLength, evalFraction, erasures,
        adapter -> AdapterObjectives.Kind.SFT);
  }

  /** {@code objectives}: each adapter's objective, which decides the records it learns from. */
  public ExampleAdmission(java.util.function.Predicate<String> trains, AllowedAdapters allowed,
      String tokenizerFingerprint, int vocabSize, int maxLength, double evalFraction,
      io.continualsft.trainer.erasure.Erasures erasures,
      java.util.function.Function<String, AdapterObjectives.Kind> objectives) {
    this.objectives = objectives;
    this.erasures = erasures;
    this.trains = trains;
    this.allowed = allowed;
    this.tokenizerFingerprint = tokenizerFingerprint;
    this.vocabSize = vocabSize;
    this.maxLength = maxLength;
    this.evalFraction = evalFraction;
  }

  /** A decoded record of either input topic. */
  public Decision admit(Object record) {
    return switch (record) {
      case SftExample e -> admit(e);
      case PreferenceExample p -> admit(p);
      default -> new Rejected(RejectionReason.INCOMPATIBLE_WRITER_SCHEMA, "a "
          + record.getClass().getSimpleName() + " is neither an SftExample nor a"
          + " PreferenceExample");
    };
  }

  /** The adapter a decoded record names (null for another kind of record). */
  public static String adapterOf(Object record) {
    return switch (record) {
      case SftExample e -> e.getAdapter();
      case PreferenceExample p -> p.getAdapter();
      default -> null;
    };
  }

  public Decision admit(SftExample e) {
    Decision first = whose(AdapterObjectives.Kind.SFT, e.getAdapter(), e.getConversationId(),
        e.getSubject(), e.getTokenizerFingerprint());
    if (first != null) {
      return first;
    }
    int length = e.getInputIds().size();
    try {
      LabelContract.checkLengths(length, e.getLabels().size());
    } catch (LabelContract.Violation v) {
      return new Rejected(RejectionReason.LABELS_MISALIGNED, v.getMessage());
    }
    if (length > maxLength) {
      return new Rejected(RejectionReason.TOO_MANY_TOKENS, length + " tokens; train.max-length is "
          + maxLength);
    }
    Batch.Example example = Batch.Example.of(e.getInputIds(), e.getLabels());
    int[] ids = example.ids();
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= vocabSize) {
        return new Rejected(RejectionReason.TOKEN_ID_OUT_OF_RANGE, "id " + ids[i] + " at " + i
            + "; vocabulary " + vocabSize);
      }
    }
    int trained;
    try {
      trained = LabelContract.trainedTokens(ids, example.labels());
    } catch (LabelContract.Violation v) {
      return v.rule() == LabelContract.Rule.SOME_TOKEN_TRAINED
          ? new Rejected(RejectionReason.NO_TRAINED_TOKENS, "0 labels are trained, the example"
              + " says " + e.getTrainedTokens())
          : new Rejected(RejectionReason.LABELS_MISALIGNED, v.getMessage());
    }
    if (trained != e.getTrainedTokens()) {
      return new Rejected(RejectionReason.NO_TRAINED_TOKENS, trained + " labels are trained, the"
          + " example says " + e.getTrainedTokens());
    }
    if (heldOut(e.getConversationId(), evalFraction)) {
      return new HeldOut(example);
    }
    return new Train(example, e.getTrainedTokens(), e.getConversationId(), e.getSubject());
  }

  /**
   * A rated turn, for a KTO adapter, checked as an SFT example is (names, tokenizer, length,
   * ids) and its completion a non-empty span after a prompt that ends the sequence.
   */
  public Decision admit(PreferenceExample p) {
    Decision first = whose(AdapterObjectives.Kind.KTO, p.getAdapter(), p.getConversationId(),
        p.getSubject(), p.getTokenizerFingerprint());
    if (first != null) {
      return first;
    }
    int length = p.getInputIds().size();
    if (length > maxLength) {
      return new Rejected(RejectionReason.TOO_MANY_TOKENS, length + " tokens; train.max-length is "
          + maxLength);
    }
    int start = p.getCompletionStart();
    int end = p.getCompletionEnd();
    if (start < 1 || end <= start || end != length) {
      return new Rejected(RejectionReason.LABELS_MISALIGNED, "completion [" + start + ", " + end
          + ") is not a non-empty span after a prompt that ends the " + length + " tokens");
    }
    for (int i = 0; i < length; i++) {
      int id = p.getInputIds().get(i);
      if (id < 0 || id >= vocabSize) {
        return new Rejected(RejectionReason.TOKEN_ID_OUT_OF_RANGE, "id " + id + " at " + i
            + "; vocabulary " + vocabSize);
      }
    }
    Batch.Example example = Kto.Example.of(p.getInputIds(), start, end, p.getDesirable())
        .rated();
    if (heldOut(p.getConversationId(), evalFraction)) {
      return new HeldOut(example);
    }
    return new Train(example, end - start, p.getConversationId(), p.getSubject());
  }

  /**
   * What either kind of record is checked for first, in this order: whose it is (this trainer's
   * adapter, learning by {@code kind}), whether it is erased, its names, its tokenizer. Null when
   * it passes.
   */
  private Decision whose(AdapterObjectives.Kind kind, String adapter, String conversationId,
      String subject, String tokenizer) {
    if (!trains.test(adapter)) {
      return new OtherAdapter();
    }
    if (objectives.apply(adapter) != kind) {
      return new OtherObjective();
    }
    if (erasures.erases(conversationId, subject)) {
      return new Erased();
    }
    try {
      allowed.check(conversationId, adapter, subject);
    } catch (RejectedException r) {
      return new Rejected(r.reason(), r.detail());
    }
    if (!tokenizer.equals(tokenizerFingerprint)) {
      return new Rejected(RejectionReason.TOKENIZER_MISMATCH, "made with tokenizer "
          + tokenizer + ", this trainer's is " + tokenizerFingerprint);
    }
    return null;
  }

  /** Whether a conversation is in the held-out eval slice: by a hash of its id, so stable. */
  public static boolean heldOut(String conversationId, double fraction) {
    if (fraction <= 0) {
      return false;
    }
    String hash = Fingerprints.sha256(conversationId.getBytes(StandardCharsets.UTF_8));
    long bucket = Long.parseLong(hash.substring(0, 8), 16) % 10_000;
    return bucket < fraction * 10_000;
  }
}
