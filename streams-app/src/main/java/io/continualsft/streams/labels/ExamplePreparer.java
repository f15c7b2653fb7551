package io.continualsft.streams.labels;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.SftExample;
import io.continualsft.chat.format.ChatModel;
import io.continualsft.chat.labels.AssistantLabeler;
import io.continualsft.chat.labels.LabelingSettings;
import io.continualsft.chat.labels.RejectedException;
import java.time.Clock;
import java.util.Arrays;

/** Conversation in, SftExample out (or a {@link RejectedException} saying why not). */
public final class ExamplePreparer {
  private final AssistantLabeler labeler;
  private final ChatModel model;
  private final Clock clock;

  public ExamplePreparer(ChatModel model, LabelingSettings settings, Clock clock) {
    this.model = model;
    this.labeler = new AssistantLabeler(model, settings);
    this.clock = clock;
  }

  /** The result with the numbers metrics want. */
  public record Prepared(SftExample example, int renderedChars, boolean truncated) {}

  public Prepared prepare(Conversation conversation, String sourceTopic, int partition,
      long offset) throws RejectedException {
    AssistantLabeler.Labeled labeled = labeler.label(conversation);
    SftExample example = SftExample.newBuilder()
        .setConversationId(conversation.getId())
        .setAdapter(conversation.getAdapter())
        .setInputIds(Arrays.stream(labeled.inputIds()).boxed().toList())
        .setLabels(Arrays.stream(labeled.labels()).boxed().toList())
        .setTrainedTokens(labeled.trainedTokens())
        .setTokenizerFingerprint(model.tokenizerFingerprint())
        .setTemplateFingerprint(model.templateFingerprint())
        .setSourceTopic(sourceTopic)
        .setSourcePartition(partition)
        .setSourceOffset(offset)
        .setCreatedAt(clock.instant().truncatedTo(java.time.temporal.ChronoUnit.MILLIS))
        .build();
    return new Prepared(example, labeled.renderedChars(), labeled.truncated());
  }

  public AssistantLabeler labeler() {
    return labeler;
  }
}
