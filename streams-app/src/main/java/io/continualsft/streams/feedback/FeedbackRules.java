package io.continualsft.streams.feedback;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Feedback;
import io.continualsft.avro.Message;
import io.continualsft.chat.labels.AssistantLabeler;
import io.continualsft.chat.labels.LabelingSettings;
import io.continualsft.chat.labels.RejectedException;
import io.continualsft.chat.labels.Identifiers;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * What feedback does to a conversation before it is labelled. Pure: the join decides when, this
 * decides what.
 *
 * <ul>
 *   <li>A feedback event names a turn by its index in the messages (null: the last assistant
 *       turn). A turn that is not an assistant message is a misfit, dead-lettered.
 *   <li>Per turn, the latest event wins (events are given in arrival order): a user who changes
 *       a thumbs down to a thumbs up is taken at their last word.
 *   <li>The first corrected turn takes the correction as its reply and is trained; its reasoning
 *       and tool calls go (they led to the reply it replaces), and so do the turns after it,
 *       which answered the replaced reply.
 *   <li>{@link FeedbackPolicy#NOT_RATED_BAD}: a turn rated down is not trained.
 *   <li>{@link FeedbackPolicy#RATED_GOOD}: a turn is trained only if rated up, and not excluded by
 *       its producer's {@code train=false}; the labelling policy no longer picks turns.
 * </ul>
 */
public final class FeedbackRules {
  public enum Rating { UP, DOWN }

  /** The longest rating source text kept ({@code source}), in characters. */
  public static final int MAX_SOURCE_CHARS = 256;

  private FeedbackRules() {}

  /** The rating {@code text} names, or null when it names none. */
  public static Rating rating(String text) {
    return switch (text) {
      case "up" -> Rating.UP;
      case "down" -> Rating.DOWN;
      default -> null;
    };
  }

  /**
   * What is wrong with {@code feedback} read under {@code key}, judged without its conversation,
   * or null when nothing is.
   */
  public static String check(Feedback feedback, byte[] key, int maxCorrectionChars) {
    try {
      Identifiers.checkConversationId(feedback.getConversationId());
    } catch (RejectedException e) {
      return e.detail();
    }
    String id = feedback.getConversationId();
    if (key == null || !id.equals(new String(key, java.nio.charset.StandardCharsets.UTF_8))) {
      return "the record's key must be the conversation id \"" + id + "\" (it decides the"
          + " partition the feedback meets its conversation on); it is "
          + (key == null ? "null" : key.length + " other bytes");
    }
    if (rating(feedback.getRating()) == null) {
      String shown = feedback.getRating().length() > 32
          ? feedback.getRating().substring(0, 32) + "..." : feedback.getRating();
      return "the rating \"" + shown + "\" is not up or down";
    }
    if (feedback.getTurn() != null && feedback.getTurn() < 0) {
      return "the turn " + feedback.getTurn() + " is negative; it is the index of an assistant"
          + " message, or null for the last";
    }
    if (feedback.getCorrection() != null) {
      if (feedback.getCorrection().isBlank()) {
        return "the correction is empty; leave it null to rate without correcting";
      }
      if (feedback.getCorrection().length() > maxCorrectionChars) {
        return "the correction has " + feedback.getCorrection().length() + " characters; a"
            + " message may have at most " + maxCorrectionChars + " (labels.max-content-chars)";
      }
    }
    if (feedback.getSource().length() > MAX_SOURCE_CHARS) {
      return "the source has " + feedback.getSource().length() + " characters; at most "
          + MAX_SOURCE_CHARS + " are kept";
    }
    return null;
  }

  /** A feedback event that does not fit its conversation: its index in the list, and why. */
  public record Misfit(int index, String detail) {}

  /**
   * A conversation with its feedback applied.
   *
   * @param conversation what is labelled: train flags set, a correction in place
   * @param misfits events naming a turn that is not an assistant turn
   * @param ratings the rating of each event that fits, in order
   * @param masked assistant turns the labelling rules would train that feedback excludes
   * @param trained turns rated up that are trained
   * @param corrected turns replaced by a correction (0 or 1)
   * @param trains whether any turn is left to train
   * @param judged the event that decides each judged turn (the latest for it), by turn, in
   *     turn order: what preference examples are made from
   */
  public record Applied(Conversation conversation, List<Misfit> misfits, List<Rating> ratings,
      int masked, int trained, int corrected, boolean trains, Map<Integer, Feedback> judged) {}

  /**
   * Whether every assistant turn up to the first corrected one has feedback: nothing more can
   * change what is trained, so the conversation need not wait out its window.
   */
  public static boolean complete(Conversation conversation, List<Feedback> feedback) {
    List<Message> messages = conversation.getMessages();
    Map<Integer, Feedback> byTurn = byTurn(messages, feedback, new ArrayList<>());
    Set<Integer> judged = new HashSet<>(byTurn.keySet());
    int end = end(byTurn, messages.size());
    for (int t = 0; t < end; t++) {
      if (isAssistant(messages.get(t)) && !judged.contains(t)) {
        return false;
      }
    }
    return true;
  }

  /** {@code conversation} as {@code policy} trains it given {@code feedback} (arrival order). */
  public static Applied apply(Conversation conversation, List<Feedback> feedback,
      FeedbackPolicy policy, LabelingSettings.TrainPolicy labels) {
    List<Message> messages = conversation.getMessages();
    List<Misfit> misfits = new ArrayList<>();
    Map<Integer, Feedback> byTurn = byTurn(messages, feedback, misfits);
    List<Rating> ratings = new ArrayList<>();
    for (int i = 0, m = 0; i < feedback.size(); i++) {
      if (m < misfits.size() && misfits.get(m).index() == i) {
        m++;
      } else {
        ratings.add(rating(feedback.get(i).getRating()));
      }
    }
    int end = end(byTurn, messages.size());
    int last = lastAssistant(messages, messages.size());
    int lastKept = lastAssistant(messages, end);
    List<Message> out = new ArrayList<>(end);
    int masked = 0;
    int trained = 0;
    int corrected = 0;
    boolean trains = false;
    for (int t = 0; t < end; t++) {
      Message m = messages.get(t);
      if (!isAssistant(m)) {
        out.add(m);
        continue;
      }
      Feedback f = byTurn.get(t);
      if (f != null && f.getCorrection() != null) {
        out.add(Message.newBuilder(m).setContent(f.getCorrection()).setReasoning(null)
            .setToolCalls(null).setTrain(true).build());
        corrected++;
        trains = true;
        continue;
      }
      Rating rating = f == null ? null : rating(f.getRating());
      Boolean flag = switch (policy) {
        case ALWAYS -> m.getTrain();
        case NOT_RATED_BAD -> rating == Rating.DOWN ? Boolean.FALSE : m.getTrain();
        case RATED_GOOD -> rating == Rating.UP && !Boolean.FALSE.equals(m.getTrain());
      };
      boolean before = AssistantLabeler.trains(m.getTrain(), t, last, labels);
      boolean after = AssistantLabeler.trains(flag, t, lastKept, labels);
      masked += before && !after ? 1 : 0;
      trained += after && rating == Rating.UP ? 1 : 0;
      trains |= after;
      out.add(java.util.Objects.equals(flag, m.getTrain()) ? m
          : Message.newBuilder(m).setTrain(flag).build());
    }
    Conversation applied = end == messages.size() && out.equals(messages) ? conversation
        : Conversation.newBuilder(conversation).setMessages(out).build();
    return new Applied(applied, List.copyOf(misfits), List.copyOf(ratings), masked, trained,
        corrected, trains, java.util.Collections.unmodifiableMap(byTurn));
  }

  /** The events that fit, by the turn they name; the latest wins. Misfits are added to. */
  private static Map<Integer, Feedback> byTurn(List<Message> messages, List<Feedback> feedback,
      List<Misfit> misfits) {
    int last = lastAssistant(messages, messages.size());
    Map<Integer, Feedback> byTurn = new TreeMap<>();
    for (int i = 0; i < feedback.size(); i++) {
      Feedback f = feedback.get(i);
      int turn = f.getTurn() == null ? last : f.getTurn();
      if (turn < 0) {
        misfits.add(new Misfit(i, "the conversation has no assistant turn to judge"));
      } else if (turn >= messages.size()) {
        misfits.add(new Misfit(i, "turn " + turn + " does not exist: the conversation has "
            + messages.size() + " messages"));
      } else if (!isAssistant(messages.get(turn))) {
        misfits.add(new Misfit(i, "turn " + turn + " is a " + messages.get(turn).getRole()
            + " message; feedback judges assistant turns"));
      } else {
        byTurn.put(turn, f);
      }
    }
    return byTurn;
  }

  /** The number of messages kept: up to and including the first corrected turn. */
  private static int end(Map<Integer, Feedback> byTurn, int size) {
    for (Map.Entry<Integer, Feedback> e : byTurn.entrySet()) {
      if (e.getValue().getCorrection() != null) {
        return e.getKey() + 1;
      }
    }
    return size;
  }

  private static int lastAssistant(List<Message> messages, int end) {
    for (int t = end - 1; t >= 0; t--) {
      if (isAssistant(messages.get(t))) {
        return t;
      }
    }
    return -1;
  }

  private static boolean isAssistant(Message m) {
    return "assistant".equals(m.getRole());
  }
}
