package io.continualsft.chat.labels;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Message;
import io.continualsft.avro.PreferenceExample;
import io.continualsft.avro.SftExample;
import io.continualsft.chat.format.ChatModel;
import java.nio.file.Path;
import java.time.Clock;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The one way a conversation becomes a training example: the base model's chat template and the
 * configured labelling rules ({@link LabelingSettings}, read from {@link LabelingKeys}). The
 * streams app, {@code streams-app mask}, {@code trainer-service train} and the trainer's
 * retention set all label through here, so an example means the same wherever it was made.
 */
public final class ExampleLabeler implements AutoCloseable {
  private final ChatModel model;
  private final boolean ownsModel;
  private final LabelingSettings rules;
  private final AssistantLabeler labeler;
  private final Clock clock;

  /** Labels with {@code model} (the caller's, which it closes) by {@code rules}. */
  public ExampleLabeler(ChatModel model, LabelingSettings rules, Clock clock) {
    this(model, false, rules, clock);
  }

  private ExampleLabeler(ChatModel model, boolean ownsModel, LabelingSettings rules,
      Clock clock) {
    this.model = model;
    this.ownsModel = ownsModel;
    this.rules = rules;
    this.labeler = new AssistantLabeler(model, rules);
    this.clock = clock;
  }

  /** Loads the chat format of {@code modelDir} (template {@code templateName}); closed with this. */
  public static ExampleLabeler open(Path modelDir, String templateName, LabelingSettings rules,
      Clock clock) {
    ChatModel model = ChatModel.load(modelDir, templateName, clock);
    try {
      return new ExampleLabeler(model, true, rules, clock);
    } catch (RuntimeException e) {
      model.close();
      throw e;
    }
  }

  /** The example of {@code conversation} with the numbers metrics want. */
  public record Prepared(SftExample example, int renderedChars, boolean truncated) {}

  /** Ids and labels of {@code conversation}, or why it cannot be trained. */
  public AssistantLabeler.Labeled label(Conversation conversation) throws RejectedException {
    return labeler.label(conversation);
  }

  /**
   * The example the stream writes for {@code conversation}, read from {@code sourceTopic} at
   * {@code partition} and {@code offset}.
   */
  public Prepared prepare(Conversation conversation, String sourceTopic, int partition,
      long offset) throws RejectedException {
    AssistantLabeler.Labeled labeled = labeler.label(conversation);
    SftExample example = SftExample.newBuilder()
        .setConversationId(conversation.getId())
        .setAdapter(conversation.getAdapter())
        .setSubject(conversation.getSubject())
        .setInputIds(Arrays.stream(labeled.inputIds()).boxed().toList())
        .setLabels(Arrays.stream(labeled.labels()).boxed().toList())
        .setTrainedTokens(labeled.trainedTokens())
        .setTokenizerFingerprint(model.tokenizerFingerprint())
        .setTemplateFingerprint(model.templateFingerprint())
        .setSourceTopic(sourceTopic)
        .setSourcePartition(partition)
        .setSourceOffset(offset)
        .setCreatedAt(clock.instant().truncatedTo(ChronoUnit.MILLIS))
        .build();
    return new Prepared(example, labeled.renderedChars(), labeled.truncated());
  }

  /**
   * The preference example of assistant turn {@code turn} of {@code conversation}: the
   * conversation cut after that turn (what follows it is not part of its prompt) and labelled
   * with that turn alone trained, so its completion is exactly the tokens SFT trains for it
   * (the reply and its end-of-turn token; an excluded reasoning stays inside the span). The
   * caller sets the rating fields ({@code desirable}, {@code corrected}, {@code rating},
   * {@code score}, {@code feedbackSource}).
   */
  public PreferenceExample.Builder preference(Conversation conversation, int turn,
      String sourceTopic, int partition, long offset) throws RejectedException {
    List<Message> messages = new ArrayList<>(turn + 1);
    for (int i = 0; i <= turn; i++) {
      Message m = conversation.getMessages().get(i);
      boolean judged = i == turn;
      if ("assistant".equals(m.getRole()) || judged) {
        m = Message.newBuilder(m).setTrain(judged).build();
      }
      messages.add(m);
    }
    AssistantLabeler.Labeled labeled = labeler.label(Conversation.newBuilder(conversation)
        .setMessages(messages).build());
    int[] labels = labeled.labels();
    int first = -1;
    int last = -1;
    for (int t = 0; t < labels.length; t++) {
      if (LabelContract.isTrained(labels[t])) {
        first = first < 0 ? t : first;
        last = t;
      }
    }
    // Whatever a template prints after the turn's last trained token (a newline after its end of
    // turn) is neither prompt nor completion: the pair ends with the completion.
    int end = last + 1;
    return PreferenceExample.newBuilder()
        .setConversationId(conversation.getId())
        .setTurn(turn)
        .setAdapter(conversation.getAdapter())
        .setSubject(conversation.getSubject())
        .setInputIds(Arrays.stream(labeled.inputIds(), 0, end).boxed().toList())
        .setCompletionStart(first)
        .setCompletionEnd(end)
        .setTokenizerFingerprint(model.tokenizerFingerprint())
        .setTemplateFingerprint(model.templateFingerprint())
        .setSourceTopic(sourceTopic)
        .setSourcePartition(partition)
        .setSourceOffset(offset)
        .setCreatedAt(clock.instant().truncatedTo(ChronoUnit.MILLIS));
  }

  public LabelingSettings rules() {
    return rules;
  }

  public AssistantLabeler labeler() {
    return labeler;
  }

  @Override
  public void close() {
    if (ownsModel) {
      model.close();
    }
  }
}
