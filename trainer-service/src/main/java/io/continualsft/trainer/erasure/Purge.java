package io.continualsft.trainer.erasure;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Feedback;
import io.continualsft.avro.PreferenceExample;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.SftExample;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Deserializer;

/**
 * Physical deletion: finds every record of the erased conversations in the pipeline's topics
 * (conversations, examples, preference examples, feedback, dead letters, whose copies carry the
 * original bytes) and
 * writes a
 * tombstone for its key to the partition it is in, so that compaction removes it
 * ({@code cleanup.policy=compact,delete} on those topics) and every reader skips it until then.
 * A record matches by its conversation id or its subject; a dead letter by its key (the
 * conversation id) or by the conversation, example or feedback its original bytes decode to.
 * Feedback names its conversation only by id: feedback on a subject's conversations is found
 * through the ids the conversations and examples topics matched, so those targets run first. A
 * record
 * already followed by a tombstone of its key is not purged again. A matching record without a
 * key cannot be deleted by compaction: it is counted, and goes with the topic's retention.
 */
public final class Purge {
  /** What a topic holds, so how its records are matched. */
  public enum Kind {
    CONVERSATIONS, EXAMPLES, PREFERENCE_EXAMPLES, FEEDBACK, DEAD_LETTERS
  }

  /** A topic to purge. */
  public record Target(String topic, Kind kind) {}

  /** What a purge of one topic found: tombstones written, and matches without a key. */
  public record Result(String topic, int tombstones, int keyless, long scanned) {}

  private final Deserializer<Conversation> conversations;
  private final Deserializer<SftExample> examples;
  private final Deserializer<Rejection> rejections;
  private final Deserializer<Feedback> feedback;
  private final Deserializer<PreferenceExample> preferences;
  private final Duration patience;
  /** Conversation ids matched so far (by id or subject), for feedback and its dead letters. */
  private final Set<String> matchedIds = new HashSet<>();

  public Purge(Deserializer<Conversation> conversations, Deserializer<SftExample> examples,
      Deserializer<Rejection> rejections, Deserializer<Feedback> feedback,
      Deserializer<PreferenceExample> preferences, Duration patience) {
    this.conversations = conversations;
    this.examples = examples;
    this.rejections = rejections;
    this.feedback = feedback;
    this.preferences = preferences;
    this.patience = patience;
  }

  /**
   * Scans {@code target} to its end with {@code consumer} (no group, read_committed, byte
   * arrays) and sends a tombstone through {@code producer} (in the caller's transaction) for
   * each record {@code erasures} erases.
   */
  public Result run(Consumer<byte[], byte[]> consumer, Producer<byte[], byte[]> producer,
      Target target, Erasures erasures) {
    List<TopicPartition> tps = consumer.partitionsFor(target.topic(), patience).stream()
        .map(p -> new TopicPartition(target.topic(), p.partition())).toList();
    consumer.assign(tps);
    consumer.seekToBeginning(tps);
    Map<TopicPartition, Long> end = consumer.endOffsets(tps);
    // Per partition, the keys of matching records not (yet) followed by their tombstone.
    Map<TopicPartition, Map<ByteBuffer, byte[]>> pending = new LinkedHashMap<>();
    int keyless = 0;
    long scanned = 0;
    Instant deadline = Instant.now().plus(patience);
    while (tps.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
      if (Instant.now().isAfter(deadline)) {
        throw new IllegalStateException("could not read " + target.topic() + " to its end within "
            + patience + "; is the broker reachable?");
      }
      for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
        if (r.offset() >= end.get(tp)) {
          continue;
        }
        scanned++;
        Map<ByteBuffer, byte[]> keys = pending.computeIfAbsent(tp, k -> new LinkedHashMap<>());
        if (r.value() == null) {
          if (r.key() != null) {
            keys.remove(ByteBuffer.wrap(r.key())); // purged already
          }
          continue;
        }
        if (!matches(target.kind(), r, erasures)) {
          continue;
        }
        if (r.key() == null) {
          keyless++;
        } else {
          keys.put(ByteBuffer.wrap(r.key()), r.key());
        }
      }
    }
    int tombstones = 0;
    for (var e : pending.entrySet()) {
      for (byte[] key : e.getValue().values()) {
        producer.send(new ProducerRecord<>(e.getKey().topic(), e.getKey().partition(), key,
            null));
        tombstones++;
      }
    }
    return new Result(target.topic(), tombstones, keyless, scanned);
  }

  private boolean matches(Kind kind, ConsumerRecord<byte[], byte[]> r, Erasures erasures) {
    return switch (kind) {
      case CONVERSATIONS -> decoded(conversations, r.topic(), r.value(),
          c -> matched(c.getId(), erasures.erases(c.getId(), c.getSubject())));
      case EXAMPLES -> decoded(examples, r.topic(), r.value(),
          e -> matched(e.getConversationId(),
              erasures.erases(e.getConversationId(), e.getSubject())));
      case PREFERENCE_EXAMPLES -> decoded(preferences, r.topic(), r.value(),
          p -> matched(p.getConversationId(),
              erasures.erases(p.getConversationId(), p.getSubject())));
      case FEEDBACK -> (r.key() != null && erasedId(new String(r.key(), StandardCharsets.UTF_8),
          erasures)) || decoded(feedback, r.topic(), r.value(),
              f -> erasedId(f.getConversationId(), erasures));
      case DEAD_LETTERS -> {
        if (r.key() != null && erasedId(new String(r.key(), StandardCharsets.UTF_8),
            erasures)) {
          yield true;
        }
        Rejection rejection = decodedOrNull(rejections, r.topic(), r.value());
        if (rejection == null || rejection.getOriginalValue() == null) {
          yield false;
        }
        ByteBuffer buffer = rejection.getOriginalValue().duplicate();
        byte[] original = new byte[buffer.remaining()];
        buffer.get(original);
        yield decoded(conversations, rejection.getSourceTopic(), original,
            c -> erasures.erases(c.getId(), c.getSubject()))
            || decoded(examples, rejection.getSourceTopic(), original,
                e -> erasures.erases(e.getConversationId(), e.getSubject()))
            || decoded(feedback, rejection.getSourceTopic(), original,
                f -> erasedId(f.getConversationId(), erasures));
      }
    };
  }

  private boolean matched(String conversationId, boolean erased) {
    if (erased) {
      matchedIds.add(conversationId);
    }
    return erased;
  }

  private boolean erasedId(String conversationId, Erasures erasures) {
    return erasures.erases(conversationId, null) || matchedIds.contains(conversationId);
  }

  private static <T> boolean decoded(Deserializer<T> deserializer, String topic, byte[] bytes,
      Function<T, Boolean> test) {
    T value = decodedOrNull(deserializer, topic, bytes);
    return value != null && test.apply(value);
  }

  /**
   * The value, or null when the bytes are not one (what a purge cannot read, it cannot match).
   * A registry that cannot be reached is not "not one": it propagates.
   */
  private static <T> T decodedOrNull(Deserializer<T> deserializer, String topic, byte[] bytes) {
    try {
      return bytes == null ? null : deserializer.deserialize(topic, bytes);
    } catch (io.continualsft.schemas.serde.BadRecordException notOne) {
      return null;
    }
  }
}
