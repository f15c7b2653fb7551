package io.continualsft.streams.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The feedback join's meters. Prometheus names: {@code sft_feedback_total{outcome}} (joined,
 * orphaned, late, invalid), {@code sft_feedback_ratings_total{adapter,rating}},
 * {@code sft_feedback_turns_total{effect}} (masked, trained, corrected),
 * {@code sft_feedback_preference_examples_total{label}},
 * {@code sft_feedback_examples_dropped_total{reason}} and {@code sft_feedback_waiting} (ids
 * whose conversation or feedback waits in the join).
 */
public final class FeedbackMetrics {
  /** What became of one feedback event. */
  public enum Outcome { JOINED, ORPHANED, LATE, INVALID }

  /** Why a conversation made no example. */
  public enum Dropped {
    /** rated-good: no turn was rated up (or corrected) when the window closed. */
    NOT_RATED_GOOD,
    /** not-rated-bad: every turn that would be trained was rated down. */
    RATED_BAD
  }

  private final MeterRegistry registry;
  private final java.util.Map<Outcome, Counter> outcomes = new java.util.EnumMap<>(Outcome.class);
  private final java.util.Map<Dropped, Counter> dropped = new java.util.EnumMap<>(Dropped.class);
  private final Counter masked;
  private final Counter trained;
  private final Counter corrected;
  private final java.util.Map<String, Counter> ratings = new ConcurrentHashMap<>();
  private final AtomicLong waiting = new AtomicLong();
  private final Counter desirable;
  private final Counter undesirable;

  public FeedbackMetrics(MeterRegistry registry) {
    this.registry = registry;
    for (Outcome o : Outcome.values()) {
      outcomes.put(o, Counter.builder("sft.feedback")
          .description("Feedback events read, by what became of them: joined to their"
              + " conversation, orphaned (none arrived within feedback.window), late (its example"
              + " was already written) or invalid; all but joined are dead letters")
          .tag("outcome", name(o)).register(registry));
    }
    for (Dropped d : Dropped.values()) {
      dropped.put(d, Counter.builder("sft.feedback.examples.dropped")
          .description("Conversations that made no example because of their feedback")
          .tag("reason", name(d)).register(registry));
    }
    masked = turns("masked");
    trained = turns("trained");
    corrected = turns("corrected");
    desirable = preference("desirable");
    undesirable = preference("undesirable");
    Gauge.builder("sft.feedback.waiting", waiting, AtomicLong::get)
        .description("Conversation ids with a conversation or feedback waiting in the join"
            + " (RocksDB's estimate)").register(registry);
  }

  private Counter turns(String effect) {
    return Counter.builder("sft.feedback.turns")
        .description("Assistant turns whose training feedback changed: masked (would have been"
            + " trained, is not), trained (rated up and trained), corrected (replaced by the"
            + " user's correction and trained)")
        .tag("effect", effect).register(registry);
  }

  private Counter preference(String label) {
    return Counter.builder("sft.feedback.preference.examples")
        .description("Preference examples written (one per judged turn, one more per"
            + " correction), by label").tag("label", label).register(registry);
  }

  public void preference(boolean isDesirable) {
    (isDesirable ? desirable : undesirable).increment();
  }

  /** Preference examples written: desirable, undesirable. */
  public double[] preferenceCounts() {
    return new double[] {desirable.count(), undesirable.count()};
  }

  private static String name(Enum<?> e) {
    return e.name().toLowerCase(Locale.ROOT).replace('_', '-');
  }

  public void outcome(Outcome o) {
    outcomes.get(o).increment();
  }

  public void rating(String adapter, String rating) {
    // Adapters are a managed set (adapters.allowed) and ratings were checked: bounded tags.
    ratings.computeIfAbsent(adapter + '\0' + rating, k -> Counter.builder("sft.feedback.ratings")
        .description("Ratings joined to a conversation, by its adapter")
        .tag("adapter", adapter).tag("rating", rating).register(registry)).increment();
  }

  public void turns(int maskedTurns, int trainedTurns, int correctedTurns) {
    masked.increment(maskedTurns);
    trained.increment(trainedTurns);
    corrected.increment(correctedTurns);
  }

  public void dropped(Dropped d) {
    dropped.get(d).increment();
  }

  public void waiting(long ids) {
    waiting.set(ids);
  }

  public double count(Outcome o) {
    return outcomes.get(o).count();
  }

  public double droppedCount(Dropped d) {
    return dropped.get(d).count();
  }

  /** Turns masked, trained and corrected because of feedback. */
  public double[] turnCounts() {
    return new double[] {masked.count(), trained.count(), corrected.count()};
  }
}
