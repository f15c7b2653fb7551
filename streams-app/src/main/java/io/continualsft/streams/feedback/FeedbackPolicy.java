package io.continualsft.streams.feedback;

import java.util.Arrays;
import java.util.Locale;

/** What feedback decides about training ({@code train.when}). */
public enum FeedbackPolicy {
  /** Every turn the labelling rules select is trained; feedback is not read. */
  ALWAYS("always"),
  /** A turn rated down is not trained; the example waits for feedback within the window. */
  NOT_RATED_BAD("not-rated-bad"),
  /**
   * Only turns rated up (or corrected) are trained; an example with none when its window closes
   * is dropped and counted.
   */
  RATED_GOOD("rated-good");

  private final String configName;

  FeedbackPolicy(String configName) {
    this.configName = configName;
  }

  public String configName() {
    return configName;
  }

  public static FeedbackPolicy parse(String value) {
    String v = value.trim().toLowerCase(Locale.ROOT);
    return Arrays.stream(values()).filter(p -> p.configName.equals(v)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("must be one of always, not-rated-bad,"
            + " rated-good"));
  }
}
