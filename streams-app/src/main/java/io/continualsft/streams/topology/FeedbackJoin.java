package io.continualsft.streams.topology;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Feedback;
import io.continualsft.avro.PreferenceExample;
import io.continualsft.avro.RejectionReason;
import io.continualsft.chat.labels.ExampleLabeler;
import io.continualsft.chat.labels.RejectedException;
import io.continualsft.chat.labels.LabelingSettings;
import io.continualsft.schemas.serde.BadRecordException;
import io.continualsft.streams.feedback.FeedbackPolicy;
import io.continualsft.streams.feedback.FeedbackRules;
import io.continualsft.streams.feedback.FeedbackSettings;
import io.continualsft.streams.feedback.JoinState;
import io.continualsft.streams.feedback.JoinState.Parked;
import io.continualsft.streams.metrics.FeedbackMetrics;
import io.continualsft.streams.metrics.FeedbackMetrics.Outcome;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Feedback meets its conversation, in either order, within {@code feedback.window}.
 *
 * <p>Two RocksDB stores, both with changelogs, so the join survives a restart and is part of the
 * same exactly-once transaction as the examples it writes: {@value #STATE_STORE} holds what waits
 * for each conversation id ({@link JoinState}), and {@value #DEADLINE_STORE} indexes the ids by
 * when their window closes (8-byte big-endian deadline, then the id), so closing windows is a
 * range scan of what is due, never a scan of everything waiting.
 *
 * <p>A conversation waits until every assistant turn has feedback (nothing more can change it)
 * or its window closes, then is released with its feedback applied ({@link FeedbackRules}).
 * Feedback whose conversation does not come within the window is an orphan; feedback for a
 * conversation already released (the dedup store remembers it) is late; both are dead letters.
 * Windows are timed by the wall clock, not stream time, so a conversation is released even when
 * nothing more arrives on its partition.
 */
final class FeedbackJoin {
  private static final Logger log = LoggerFactory.getLogger(FeedbackJoin.class);
  static final String STATE_STORE = "feedback-join";
  static final String DEADLINE_STORE = "feedback-deadlines";
  private static final byte[] PRESENT = new byte[0];

  /** What the join asks of the processor it runs in. */
  interface Emitter {
    /** Label {@code conversation} (feedback applied) and write its example, or dead-letter it. */
    void example(Conversation conversation, Parked source);

    /** Write a dead letter for {@code source}. */
    void reject(Parked source, RejectionReason reason, String detail);

    /** Write {@code example}, made from {@code conversation}'s record; false if too large. */
    boolean preference(PreferenceExample example, Parked conversation) throws RejectedException;

    /** Whether a conversation with this id was accepted within the dedup window of the time. */
    boolean accepted(String conversationId, long timestamp);
  }

  private final FeedbackSettings settings;
  private final Deserializer<Conversation> conversations;
  private final Deserializer<Feedback> feedbackReader;
  private final LabelingSettings labels;
  private final ExampleLabeler labeler;
  private final FeedbackMetrics metrics;
  private final long maxStateBytes;
  private ProcessorContext<?, ?> context;
  private Emitter emitter;
  private KeyValueStore<String, byte[]> states;
  private KeyValueStore<Bytes, byte[]> deadlines;

  /**
   * @param maxStateBytes the largest a state may be encoded: its changelog record must fit the
   *     producer's max.request.size
   */
  FeedbackJoin(FeedbackSettings settings, Deserializer<Conversation> conversations,
      Deserializer<Feedback> feedbackReader, ExampleLabeler labeler, FeedbackMetrics metrics,
      long maxStateBytes) {
    this.settings = settings;
    this.conversations = conversations;
    this.feedbackReader = feedbackReader;
    this.labeler = labeler;
    this.labels = labeler.rules();
    this.metrics = metrics;
    this.maxStateBytes = maxStateBytes;
  }

  String topic() {
    return settings.topic();
  }

  void init(ProcessorContext<?, ?> context, Emitter emitter) {
    this.context = context;
    this.emitter = emitter;
    this.states = context.getStateStore(STATE_STORE);
    this.deadlines = context.getStateStore(DEADLINE_STORE);
    long every = Math.clamp(settings.window().toMillis() / 10, 100, 10_000);
    context.schedule(Duration.ofMillis(every), PunctuationType.WALL_CLOCK_TIME, this::closeDue);
  }

  /**
   * A conversation (deserialized, checked, not a repeat) starts or joins its wait. False when one
   * with this id already waits: the caller counts it as a repeat.
   */
  boolean onConversation(Conversation conversation, Parked source) {
    String id = conversation.getId();
    JoinState state = load(id);
    if (state != null && state.conversation() != null) {
      return false;
    }
    JoinState base = state == null ? new JoinState(null, List.of(), 0) : state;
    JoinState next = base.withConversation(source, now() + settings.window().toMillis());
    List<Feedback> feedback = decode(next.feedback());
    if (next.encodedBytes() > maxStateBytes) {
      // Too large to wait in the state (its changelog record would be over max.request.size):
      // released at once with the feedback there is, rather than failing the stream thread.
      log.warn("conversation {} ({} bytes) is too large to wait for feedback; released with the"
          + " {} feedback event(s) already here", id, source.value().length, feedback.size());
      release(id, conversation, next, feedback);
      remove(id, state);
    } else if (FeedbackRules.complete(conversation, feedback)) {
      release(id, conversation, next, feedback);
      remove(id, state);
    } else {
      store(id, state, next);
    }
    return true;
  }

  /** A record of the feedback topic. */
  void onFeedback(Parked source) {
    Feedback feedback;
    try {
      feedback = feedbackReader.deserialize(source.topic(), source.value());
    } catch (BadRecordException e) {
      invalid(source, e.reason(), e.getMessage());
      return;
    }
    // Registry outages propagate, as for conversations: never dead-letter a good record.
    if (feedback == null) {
      return; // a tombstone: an erasure's purge deleting feedback by its key
    }
    String problem = FeedbackRules.check(feedback, source.key(), labels.maxContentChars());
    if (problem != null) {
      invalid(source, RejectionReason.FEEDBACK_INVALID, problem);
      return;
    }
    String id = feedback.getConversationId();
    JoinState state = load(id);
    if (state == null) {
      if (emitter.accepted(id, source.timestamp())) {
        metrics.outcome(Outcome.LATE);
        emitter.reject(source, RejectionReason.FEEDBACK_LATE, "conversation " + id + " was"
            + " already released (every assistant turn judged, or its feedback.window of "
            + settings.window() + " closed) before this feedback arrived; its example stands");
        return;
      }
      state = new JoinState(null, List.of(), now() + settings.window().toMillis());
    }
    if (state.feedback().size() >= settings.maxPerConversation()) {
      invalid(source, RejectionReason.FEEDBACK_INVALID, "conversation " + id + " already has "
          + state.feedback().size() + " feedback events waiting; feedback.max-per-conversation"
          + " is " + settings.maxPerConversation());
      return;
    }
    JoinState next = state.withFeedback(source);
    if (next.encodedBytes() > maxStateBytes) {
      invalid(source, RejectionReason.FEEDBACK_INVALID, "this feedback would make what waits"
          + " for conversation " + id + " " + next.encodedBytes() + " bytes, over the "
          + maxStateBytes + " a state record may have (the producer's max.request.size)");
      return;
    }
    if (next.conversation() != null) {
      Conversation conversation = conversations.deserialize(next.conversation().topic(),
          next.conversation().value());
      List<Feedback> waiting = decode(next.feedback());
      if (FeedbackRules.complete(conversation, waiting)) {
        release(id, conversation, next, waiting);
        remove(id, state);
        return;
      }
    }
    store(id, state, next);
  }

  /** Closes every window that is due: releases conversations, dead-letters orphans. */
  void closeDue(long now) {
    List<KeyValue<Bytes, byte[]>> due = new ArrayList<>();
    try (KeyValueIterator<Bytes, byte[]> it = deadlines.range(deadlineKey(0, ""),
        deadlineKey(now + 1, ""))) {
      it.forEachRemaining(due::add);
    }
    for (KeyValue<Bytes, byte[]> entry : due) {
      deadlines.delete(entry.key);
      ByteBuffer key = ByteBuffer.wrap(entry.key.get());
      long deadline = key.getLong();
      String id = new String(entry.key.get(), 8, entry.key.get().length - 8,
          StandardCharsets.UTF_8);
      JoinState state = load(id);
      if (state == null || state.deadline() != deadline) {
        continue; // released early, or waiting again under a later deadline
      }
      states.delete(id);
      if (state.conversation() != null) {
        release(id, conversations.deserialize(state.conversation().topic(),
            state.conversation().value()), state, decode(state.feedback()));
      } else {
        for (Parked orphan : state.feedback()) {
          metrics.outcome(Outcome.ORPHANED);
          emitter.reject(orphan, RejectionReason.FEEDBACK_ORPHAN, "no conversation " + id
              + " arrived within feedback.window (" + settings.window() + ") of this feedback");
        }
      }
    }
    metrics.waiting(states.approximateNumEntries());
  }

  /** {@code feedback}: the state's feedback records, decoded, in the same order. */
  private void release(String id, Conversation conversation, JoinState state,
      List<Feedback> feedback) {
    FeedbackRules.Applied applied = FeedbackRules.apply(conversation, feedback,
        settings.policy(), labels.policy());
    for (FeedbackRules.Misfit misfit : applied.misfits()) {
      invalid(state.feedback().get(misfit.index()), RejectionReason.FEEDBACK_INVALID,
          "feedback on conversation " + id + ": " + misfit.detail());
    }
    for (FeedbackRules.Rating rating : applied.ratings()) {
      metrics.outcome(Outcome.JOINED);
      metrics.rating(conversation.getAdapter(), rating.name().toLowerCase(java.util.Locale.ROOT));
    }
    metrics.turns(applied.masked(), applied.trained(), applied.corrected());
    preferences(conversation, applied, state, feedback);
    if (!applied.trains() && (applied.masked() > 0 || settings.policy() == FeedbackPolicy.RATED_GOOD)) {
      // Not a bad record: its users said not to learn from it. Counted, not dead-lettered.
      metrics.dropped(settings.policy() == FeedbackPolicy.RATED_GOOD
          ? FeedbackMetrics.Dropped.NOT_RATED_GOOD : FeedbackMetrics.Dropped.RATED_BAD);
      log.debug("conversation {}: nothing left to train after its feedback; dropped", id);
      return;
    }
    emitter.example(applied.conversation(), state.conversation());
  }

  /**
   * One preference example per judged turn, from the conversation as it was written (its
   * context is what the rating judged); a corrected turn gives two: the replaced reply,
   * undesirable, and the correction, desirable. A turn whose example cannot be made (labelled or
   * sent) dead-letters the feedback event that judged it, with the reason.
   */
  private void preferences(Conversation conversation, FeedbackRules.Applied applied,
      JoinState state, List<Feedback> feedback) {
    Parked source = state.conversation();
    for (java.util.Map.Entry<Integer, Feedback> e : applied.judged().entrySet()) {
      int turn = e.getKey();
      Feedback f = e.getValue();
      Parked judgedBy = state.feedback().get(indexOf(feedback, f));
      try {
        boolean corrected = f.getCorrection() != null;
        emit(labeler.preference(conversation, turn, source.topic(), source.partition(),
            source.offset()), f, !corrected && "up".equals(f.getRating()), false, source,
            judgedBy);
        if (corrected) {
          Conversation withCorrection = Conversation.newBuilder(conversation).setMessages(
              applied.conversation().getMessages().subList(0, turn + 1)).build();
          emit(labeler.preference(withCorrection, turn, source.topic(), source.partition(),
              source.offset()), f, true, true, source, judgedBy);
        }
      } catch (RejectedException ex) {
        invalid(judgedBy, ex.reason(), "the preference example of turn " + turn
            + " of conversation " + conversation.getId() + " could not be made: " + ex.detail());
      }
    }
  }

  private void emit(PreferenceExample.Builder example, Feedback f, boolean desirable,
      boolean corrected, Parked conversation, Parked judgedBy) throws RejectedException {
    PreferenceExample built = example.setDesirable(desirable).setCorrected(corrected)
        .setRating(f.getRating()).setScore(f.getScore()).setFeedbackSource(f.getSource())
        .build();
    if (emitter.preference(built, conversation)) {
      metrics.preference(desirable);
    }
  }

  /** Which parked record {@code f} was decoded from: the same instance, in the same order. */
  private static int indexOf(List<Feedback> decoded, Feedback f) {
    for (int i = 0; i < decoded.size(); i++) {
      if (decoded.get(i) == f) {
        return i;
      }
    }
    throw new IllegalStateException("feedback not found among the parked records");
  }

  private void invalid(Parked source, RejectionReason reason, String detail) {
    metrics.outcome(Outcome.INVALID);
    emitter.reject(source, reason, detail);
  }

  private List<Feedback> decode(List<Parked> records) {
    List<Feedback> out = new ArrayList<>(records.size());
    for (Parked p : records) {
      out.add(feedbackReader.deserialize(p.topic(), p.value())); // read once already
    }
    return out;
  }

  private JoinState load(String id) {
    byte[] bytes = states.get(id);
    return bytes == null ? null : JoinState.decode(bytes);
  }

  private void store(String id, JoinState before, JoinState next) {
    if (before != null && before.deadline() != next.deadline()) {
      deadlines.delete(deadlineKey(before.deadline(), id));
    }
    deadlines.put(deadlineKey(next.deadline(), id), PRESENT);
    states.put(id, next.encode());
  }

  private void remove(String id, JoinState before) {
    if (before != null) {
      deadlines.delete(deadlineKey(before.deadline(), id));
      states.delete(id);
    }
  }

  private long now() {
    return context.currentSystemTimeMs();
  }

  /** Big-endian, so RocksDB's byte order is the deadlines' order (all positive). */
  static Bytes deadlineKey(long deadline, String id) {
    byte[] idBytes = id.getBytes(StandardCharsets.UTF_8);
    byte[] key = Arrays.copyOf(ByteBuffer.allocate(8).putLong(deadline).array(),
        8 + idBytes.length);
    System.arraycopy(idBytes, 0, key, 8, idBytes.length);
    return Bytes.wrap(key);
  }
}
