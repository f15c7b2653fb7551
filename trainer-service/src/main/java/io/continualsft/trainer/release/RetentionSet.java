package io.continualsft.trainer.release;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.RejectionReason;
import io.continualsft.chat.dataset.DatasetFile;
import io.continualsft.chat.dataset.DatasetFormat;
import io.continualsft.chat.dataset.DatasetRecords;
import io.continualsft.chat.dataset.InvalidRecordException;
import io.continualsft.chat.labels.AssistantLabeler;
import io.continualsft.chat.labels.ExampleLabeler;
import io.continualsft.chat.labels.RejectedException;
import io.continualsft.trainer.model.Batch;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.serialization.Deserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The retention set: conversations that stand for what the adapter must keep being good at,
 * labelled by the stream's own rules ({@link ExampleLabeler}: the model's chat template and the
 * configured {@code labels.*} and {@code validation.*} keys) and scored with the base model, the
 * release and every candidate. An example the trainer would not train (longer than {@code
 * train.max-length}) is refused as the trainer's admission refuses it. It is held in memory, so
 * its size is bounded ({@code retention.max-examples}).
 */
public final class RetentionSet {
  private static final Logger log = LoggerFactory.getLogger(RetentionSet.class);

  private RetentionSet() {}

  /** One conversation that could not be labelled, and why. */
  public record Refused(String where, String reason) {}

  /** The labelled examples, in input order, and the conversations refused. */
  public record Labelled(List<Batch.Example> examples, List<Refused> refused) {}

  /**
   * Labels a JSONL file of conversations (every shape {@code produce} reads). A file is the
   * operator's configuration: a line that does not parse or label stops the trainer with a
   * message naming the file, the line and the reason, as does a file of more than {@code
   * maxExamples} conversations.
   */
  public static List<Batch.Example> fromFile(Path file, ExampleLabeler labeler, int maxLength,
      int maxExamples, String key, String maxKey) {
    return fromFile(file, labeler, maxLength, maxExamples, key, maxKey, c -> false);
  }

  /** As above, leaving out (with a log line) the conversations {@code erased} names. */
  public static List<Batch.Example> fromFile(Path file, ExampleLabeler labeler, int maxLength,
      int maxExamples, String key, String maxKey,
      java.util.function.Predicate<Conversation> erased) {
    List<Conversation> conversations = new ArrayList<>();
    List<Long> lines = new ArrayList<>();
    try (DatasetFile in = DatasetFile.open(file)) {
      DatasetFile.Entry entry;
      while ((entry = in.next()) != null) {
        if ("blank".equals(entry.error())) {
          continue;
        }
        if (conversations.size() == maxExamples) {
          throw new ConfigException(maxKey, maxExamples, file + " has more conversations than"
              + " that; raise " + maxKey + " or shorten the file");
        }
        try {
          Conversation c = DatasetRecords.convert(entry.record(), DatasetFormat.AUTO)
              .toAvro("default", java.time.Instant.EPOCH);
          if (erased.test(c)) {
            log.info("retention set: {} line {} (conversation {}) is erased on request; left"
                + " out", file.getFileName(), entry.line(), c.getId());
            continue;
          }
          conversations.add(c);
          lines.add(entry.line());
        } catch (InvalidRecordException e) {
          throw new ConfigException(key, file.toString(), "line " + entry.line() + ": "
              + e.getMessage());
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(key + ": cannot read " + file + ": " + e.getMessage(), e);
    }
    Labelled labelled = label(conversations, labeler, maxLength,
        i -> file.getFileName() + " line " + lines.get(i));
    if (!labelled.refused().isEmpty()) {
      Refused first = labelled.refused().getFirst();
      throw new ConfigException(key, file.toString(), first.where() + ": " + first.reason()
          + (labelled.refused().size() > 1 ? " (and " + (labelled.refused().size() - 1)
              + " more)" : ""));
    }
    if (labelled.examples().isEmpty()) {
      throw new ConfigException(key, file.toString(), "has no conversation");
    }
    return labelled.examples();
  }

  /**
   * Labels {@code conversations}; those the labeler refuses, and those longer than {@code
   * maxLength} tokens, are returned apart with why.
   */
  public static Labelled label(List<Conversation> conversations, ExampleLabeler labeler,
      int maxLength, IntFunction<String> where) {
    List<Batch.Example> examples = new ArrayList<>();
    List<Refused> refused = new ArrayList<>();
    for (int i = 0; i < conversations.size(); i++) {
      try {
        AssistantLabeler.Labeled l = labeler.label(conversations.get(i));
        if (l.inputIds().length > maxLength) {
          refused.add(new Refused(where.apply(i), RejectionReason.TOO_MANY_TOKENS + ": "
              + l.inputIds().length + " tokens; train.max-length is " + maxLength));
        } else {
          examples.add(new Batch.Example(l.inputIds(), l.labels()));
        }
      } catch (RejectedException e) {
        refused.add(new Refused(where.apply(i), e.reason() + ": " + e.detail()));
      }
    }
    return new Labelled(examples, refused);
  }

  /**
   * The retention set from a topic of Avro Conversations, read from its start to its end.
   * Written by others, so a record that does not decode or label is skipped with a log line,
   * never fatal; records past {@code maxExamples} are left out with a warning. {@code consumer}
   * (read_committed, no group) is assigned and sought here.
   */
  public static Labelled fromTopic(Consumer<byte[], byte[]> consumer, String topic,
      Deserializer<Conversation> values, ExampleLabeler labeler, int maxLength, int maxExamples,
      Duration patience) {
    return fromTopic(consumer, topic, values, labeler, maxLength, maxExamples, patience,
        c -> false);
  }

  /** As above, leaving out (with a log line) the conversations {@code erased} names. */
  public static Labelled fromTopic(Consumer<byte[], byte[]> consumer, String topic,
      Deserializer<Conversation> values, ExampleLabeler labeler, int maxLength, int maxExamples,
      Duration patience, java.util.function.Predicate<Conversation> erased) {
    List<TopicPartition> partitions = consumer.partitionsFor(topic).stream()
        .map(p -> new TopicPartition(topic, p.partition())).toList();
    if (partitions.isEmpty()) {
      throw new ConfigException("retention.topic", topic, "no such topic");
    }
    consumer.assign(partitions);
    consumer.seekToBeginning(partitions);
    Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
    List<Conversation> conversations = new ArrayList<>();
    List<String> where = new ArrayList<>();
    int skipped = 0;
    Instant deadline = Instant.now().plus(patience);
    while (partitions.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
      if (Instant.now().isAfter(deadline)) {
        throw new IllegalStateException("could not read the retention topic " + topic
            + " to its end within " + patience.toSeconds() + " s");
      }
      for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
        if (conversations.size() == maxExamples) {
          skipped++;
          continue;
        }
        try {
          Conversation v = values.deserialize(topic, r.value());
          if (v != null && erased.test(v)) {
            log.info("retention topic {}-{}@{} (conversation {}) is erased on request; left out",
                topic, r.partition(), r.offset(), v.getId());
          } else if (v != null) {
            conversations.add(v);
            where.add(topic + "-" + r.partition() + "@" + r.offset());
          }
        } catch (RuntimeException bad) {
          log.warn("retention topic {}-{}@{}: skipped, {}", topic, r.partition(), r.offset(),
              bad.getMessage());
        }
      }
    }
    if (skipped > 0) {
      log.warn("retention topic {} has {} more records than retention.max-examples={}; they"
          + " are left out", topic, skipped, maxExamples);
    }
    Labelled labelled = label(conversations, labeler, maxLength, where::get);
    labelled.refused().forEach(r -> log.warn("retention topic: {} skipped: {}", r.where(),
        r.reason()));
    return labelled;
  }
}
