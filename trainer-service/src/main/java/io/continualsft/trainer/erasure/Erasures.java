package io.continualsft.trainer.erasure;

import io.continualsft.avro.ErasureRequest;
import io.continualsft.chat.labels.Identifiers;
import io.continualsft.chat.labels.RejectedException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What has been erased: the conversation ids and data subjects of every erasure request read so
 * far. An example of either is as if it had never been in the log: never trained, never held
 * out, never drawn by replay, never dead-lettered (a dead letter would copy it). The set only
 * grows: a conversation or subject once erased stays erased.
 */
public final class Erasures {
  private static final Logger log = LoggerFactory.getLogger(Erasures.class);

  private final Set<String> conversations = new HashSet<>();
  private final Set<String> subjects = new HashSet<>();
  private final List<String> requestIds = new ArrayList<>();
  private final List<Long> requestPositions = new ArrayList<>();
  private long requests;
  private long position = -1;

  /** Nothing erased. */
  public static Erasures none() {
    return new Erasures();
  }

  /**
   * Adds {@code request}. One that names neither or both of a conversation and a subject, or a
   * malformed one, is counted (so the count stays a position in the topic) and ignored with a
   * log line: {@code forget} never writes one.
   */
  public void add(ErasureRequest request) {
    requestPositions.add(count()); // read at or after this position
    requests++;
    requestIds.add(request.getId());
    String conversation = request.getConversationId();
    String subject = request.getSubject();
    try {
      if ((conversation == null) == (subject == null)) {
        throw new IllegalArgumentException("it names " + (conversation == null ? "neither"
            : "both") + " a conversation and a subject");
      }
      if (conversation != null) {
        Identifiers.check(conversation, "default");
        conversations.add(conversation);
      } else {
        Identifiers.checkSubject(subject);
        subjects.add(subject);
      }
    } catch (RejectedException | IllegalArgumentException e) {
      log.warn("ignoring erasure request {}: {}", request.getId(),
          e instanceof RejectedException r ? r.detail() : e.getMessage());
    }
  }

  /** Whether an example of {@code conversationId} (with {@code subject}, may be null) is erased. */
  public boolean erases(String conversationId, String subject) {
    return conversations.contains(conversationId)
        || (subject != null && subjects.contains(subject));
  }

  /**
   * How far the requests topic is read ({@link ErasureFeed#position()}), which only grows, also
   * when compaction removes a repeated request; without one, how many requests were read.
   * A manifest records it: a restarted trainer examines its lineage only when it has grown.
   */
  public long count() {
    return position >= 0 ? position : requests;
  }

  /** The requests topic is read up to {@code position} ({@link ErasureFeed#position()}). */
  public void readTo(long position) {
    if (position >= 0) {
      this.position = Math.max(this.position, position);
    }
  }

  /** The ids of the requests read after position {@code from}, for a manifest's reason. */
  public List<String> requestIdsSince(long from) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < requestIds.size(); i++) {
      if (requestPositions.get(i) >= from) {
        out.add(requestIds.get(i));
      }
    }
    return out;
  }

  public boolean isEmpty() {
    return conversations.isEmpty() && subjects.isEmpty();
  }
}
