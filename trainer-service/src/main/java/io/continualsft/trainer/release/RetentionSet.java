package io.continualsft.trainer.release;

import io.continualsft.avro.Conversation;
import io.continualsft.chat.format.ChatModel;
import io.continualsft.chat.dataset.DatasetFile;
import io.continualsft.chat.dataset.DatasetFormat;
import io.continualsft.chat.dataset.DatasetRecords;
import io.continualsft.chat.dataset.InvalidRecordException;
import io.continualsft.chat.labels.AssistantLabeler;
import io.continualsft.chat.labels.LabelingSettings;
import io.continualsft.chat.labels.RejectedException;
import io.continualsft.trainer.model.Batch;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.config.ConfigException;

/**
 * The retention set: conversations that stand for what the adapter must keep being good at,
 * labelled by the same rules as the stream (the model's chat template, assistant tokens only)
 * and scored with the base model, the release and every candidate. It is held in memory, so its
 * size is bounded ({@code retention.max-examples}).
 */
public final class RetentionSet {
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
  public static List<Batch.Example> fromFile(Path file, Path modelDir, int maxLength,
      int maxExamples, String key, String maxKey) {
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
          conversations.add(DatasetRecords.convert(entry.record(), DatasetFormat.AUTO)
              .toAvro("default", java.time.Instant.EPOCH));
          lines.add(entry.line());
        } catch (InvalidRecordException e) {
          throw new ConfigException(key, file.toString(), "line " + entry.line() + ": "
              + e.getMessage());
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(key + ": cannot read " + file + ": " + e.getMessage(), e);
    }
    Labelled labelled = label(conversations, modelDir, maxLength,
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

  /** Labels {@code conversations}; those the labeler refuses are returned apart with why. */
  public static Labelled label(List<Conversation> conversations, Path modelDir, int maxLength,
      java.util.function.IntFunction<String> where) {
    List<Batch.Example> examples = new ArrayList<>();
    List<Refused> refused = new ArrayList<>();
    try (ChatModel model = ChatModel.load(modelDir, "default", Clock.systemUTC())) {
      AssistantLabeler labeler = new AssistantLabeler(model, LabelingSettings.DEFAULTS
          .withMaxLength(maxLength, LabelingSettings.Truncation.DROP));
      for (int i = 0; i < conversations.size(); i++) {
        try {
          AssistantLabeler.Labeled l = labeler.label(conversations.get(i));
          examples.add(new Batch.Example(l.inputIds(), l.labels()));
        } catch (RejectedException e) {
          refused.add(new Refused(where.apply(i), e.reason() + ": " + e.detail()));
        }
      }
    }
    return new Labelled(examples, refused);
  }
}
