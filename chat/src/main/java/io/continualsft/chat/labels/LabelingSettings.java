package io.continualsft.chat.labels;

import java.util.Locale;

/**
 * How conversations are checked and labelled.
 *
 * @param policy which assistant turns are trained when a message's own {@code train} flag is
 *     unset
 * @param maxLength the most tokens an example may have
 * @param truncation what to do with a longer one
 * @param maxContentChars the most UTF-16 characters one message's content may have
 * @param maxTurns the most messages a conversation may have
 * @param allowSpecialTokensInContent whether content may contain the literal text of a special
 *     token (such as {@code <|im_end|>}); off by default, since it lets a user forge turns
 * @param endOfTurnToken the token that ends an assistant turn, or null to detect it from the
 *     template
 * @param reasoning whether an assistant turn's reasoning, where the template renders it, is
 *     trained
 */
public record LabelingSettings(
    TrainPolicy policy,
    int maxLength,
    Truncation truncation,
    int maxContentChars,
    int maxTurns,
    boolean allowSpecialTokensInContent,
    String endOfTurnToken,
    Reasoning reasoning) {

  public static final LabelingSettings DEFAULTS = new LabelingSettings(TrainPolicy.ALL, 4096,
      Truncation.DROP, 100_000, 256, false, null, Reasoning.TRAIN);

  public LabelingSettings {
    if (maxLength < 1) {
      throw new IllegalArgumentException("max-length must be >= 1, got " + maxLength);
    }
    if (maxContentChars < 1) {
      throw new IllegalArgumentException("max-content-chars must be >= 1, got " + maxContentChars);
    }
    if (maxTurns < 1) {
      throw new IllegalArgumentException("max-turns must be >= 1, got " + maxTurns);
    }
    if (reasoning == null) {
      throw new IllegalArgumentException("reasoning must be train or exclude, got null");
    }
  }

  /** The settings of phase 1, which had no reasoning field: reasoning, when present, trained. */
  public LabelingSettings(TrainPolicy policy, int maxLength, Truncation truncation,
      int maxContentChars, int maxTurns, boolean allowSpecialTokensInContent,
      String endOfTurnToken) {
    this(policy, maxLength, truncation, maxContentChars, maxTurns, allowSpecialTokensInContent,
        endOfTurnToken, Reasoning.TRAIN);
  }

  public LabelingSettings withPolicy(TrainPolicy p) {
    return new LabelingSettings(p, maxLength, truncation, maxContentChars, maxTurns,
        allowSpecialTokensInContent, endOfTurnToken, reasoning);
  }

  public LabelingSettings withMaxLength(int n, Truncation t) {
    return new LabelingSettings(policy, n, t, maxContentChars, maxTurns,
        allowSpecialTokensInContent, endOfTurnToken, reasoning);
  }

  public LabelingSettings withReasoning(Reasoning r) {
    return new LabelingSettings(policy, maxLength, truncation, maxContentChars, maxTurns,
        allowSpecialTokensInContent, endOfTurnToken, r);
  }

  /**
   * Whether an assistant turn's reasoning is trained. EXCLUDE leaves out exactly what the
   * reasoning adds to the render (the text, and the think tags where the template prints them
   * only for reasoning); a token carrying any of it is left out too. Where a template drops the
   * reasoning (Qwen3 drops it before the last user query) there is nothing to leave out.
   */
  public enum Reasoning {
    TRAIN,
    EXCLUDE;

    public static Reasoning parse(String s) {
      return switch (s.trim().toLowerCase(Locale.ROOT)) {
        case "train" -> TRAIN;
        case "exclude" -> EXCLUDE;
        default -> throw new IllegalArgumentException(
            "reasoning must be train or exclude, got '" + s + "'");
      };
    }
  }

  /** Which assistant turns are trained by default. */
  public enum TrainPolicy {
    ALL,
    LAST;

    public static TrainPolicy parse(String s) {
      return switch (s.trim().toLowerCase(Locale.ROOT)) {
        case "all" -> ALL;
        case "last" -> LAST;
        default -> throw new IllegalArgumentException("policy must be all or last, got '" + s + "'");
      };
    }
  }

  /** What happens to an example longer than max-length. */
  public enum Truncation {
    /** Reject it (reason TOO_MANY_TOKENS). */
    DROP,
    /** Keep its first max-length tokens, if at least one of them is trained. */
    KEEP_START;

    public static Truncation parse(String s) {
      return switch (s.trim().toLowerCase(Locale.ROOT)) {
        case "drop" -> DROP;
        case "keep-start" -> KEEP_START;
        default -> throw new IllegalArgumentException(
            "truncation must be drop or keep-start, got '" + s + "'");
      };
    }
  }
}
