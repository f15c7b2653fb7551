package io.continualsft.chat.labels;

/**
 * The contract between whoever labels an example and whoever trains on it, in one place: labels
 * are aligned with {@code input_ids} and unshifted (the Hugging Face convention: the model
 * shifts), each label is either {@link #IGNORE_INDEX} or the token's own id, and at least one
 * token is trained. The labeler produces examples by it; the trainer's admission, the batcher
 * and the loss rely on it.
 */
public final class LabelContract {
  /** The label of a token the loss ignores, as PyTorch's {@code CrossEntropyLoss} defaults it. */
  public static final int IGNORE_INDEX = -100;

  private LabelContract() {}

  /** Which rule an example breaks. */
  public enum Rule {
    /** ids and labels differ in length, or are empty. */
    ALIGNED_LENGTHS,
    /** a label is neither {@link #IGNORE_INDEX} nor its token's id. */
    LABEL_IS_ID_OR_IGNORED,
    /** no label is trained. */
    SOME_TOKEN_TRAINED
  }

  /** An example that breaks the contract: the rule, and where, in words. */
  public static final class Violation extends Exception {
    private final Rule rule;

    Violation(Rule rule, String detail) {
      super(detail, null, false, false); // an outcome of checking input, not a failure
      this.rule = rule;
    }

    public Rule rule() {
      return rule;
    }
  }

  public static boolean isTrained(int label) {
    return label != IGNORE_INDEX;
  }

  /** The label of a token: its id when it is trained, else {@link #IGNORE_INDEX}. */
  public static int label(int id, boolean trained) {
    return trained ? id : IGNORE_INDEX;
  }

  /** Checks only the lengths: equal and not zero. */
  public static void checkLengths(int ids, int labels) throws Violation {
    if (ids != labels || ids == 0) {
      throw new Violation(Rule.ALIGNED_LENGTHS, ids + " ids, " + labels + " labels");
    }
  }

  /** Checks every rule and returns how many tokens are trained (at least one). */
  public static int trainedTokens(int[] ids, int[] labels) throws Violation {
    checkLengths(ids.length, labels.length);
    int trained = 0;
    for (int i = 0; i < ids.length; i++) {
      if (isTrained(labels[i])) {
        if (labels[i] != ids[i]) {
          throw new Violation(Rule.LABEL_IS_ID_OR_IGNORED, "label " + labels[i] + " at " + i
              + " is neither " + IGNORE_INDEX + " nor the id");
        }
        trained++;
      }
    }
    if (trained == 0) {
      throw new Violation(Rule.SOME_TOKEN_TRAINED, "no label is trained");
    }
    return trained;
  }
}
