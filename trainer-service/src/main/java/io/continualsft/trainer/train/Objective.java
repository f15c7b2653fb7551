package io.continualsft.trainer.train;

/**
 * What an adapter learns from, and the loss it minimises: {@link Sft} (supervised fine-tuning on
 * the examples topic, cross-entropy on the assistant tokens) or {@link Preference} (KTO on the
 * preference examples topic, {@link Kto}). Chosen per adapter ({@code objective}).
 */
public sealed interface Objective {
  /** Supervised fine-tuning, the default. */
  Objective SFT = new Sft();

  /**
   * The fewest examples one step may have: KTO's KL estimate pairs each prompt with another
   * example's completion, so a KTO step waits for a second example.
   */
  int minStepExamples();

  /** Cross-entropy on the labelled tokens. */
  record Sft() implements Objective {
    @Override
    public int minStepExamples() {
      return 1;
    }
  }

  /** KTO with these settings, the frozen base (adapter off) as the reference model. */
  record Preference(Kto.Settings kto) implements Objective {
    public Preference {
      java.util.Objects.requireNonNull(kto, "kto");
    }

    @Override
    public int minStepExamples() {
      return 2;
    }
  }
}
