package io.continualsft.streams.topology;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.RejectionReason;
import io.continualsft.avro.SftExample;
import io.continualsft.chat.labels.RejectedException;
import io.continualsft.schemas.DeadLetters;
import io.continualsft.schemas.serde.BadRecordException;
import io.continualsft.schemas.serde.RecordSizes;
import io.continualsft.chat.labels.ExampleLabeler;
import io.continualsft.streams.metrics.PipelineMetrics;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import org.apache.kafka.common.serialization.Deserializer;
import io.continualsft.streams.feedback.JoinState.Parked;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.state.WindowStoreIterator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Deserialize, drop repeats, prepare: one input record in, at most one outcome out. With a
 * feedback policy ({@code train.when} not always) the same processor reads the feedback topic too
 * (one task sees partition p of both, since both are keyed by conversation id) and a checked
 * conversation waits in the {@link FeedbackJoin} before it is prepared.
 */
final class ConversationProcessor implements Processor<byte[], byte[], byte[], Outcome>,
    FeedbackJoin.Emitter {
  private static final Logger log = LoggerFactory.getLogger(ConversationProcessor.class);
  private final TopologySettings settings;
  private final Deserializer<Conversation> deserializer;
  private final ExampleLabeler examples;
  private final PipelineMetrics metrics;
  private final FeedbackJoin join;
  private ProcessorContext<byte[], Outcome> context;
  private WindowStore<String, Long> seen;

  /** @param join null: no feedback is read, every conversation is prepared as it arrives */
  ConversationProcessor(TopologySettings settings, Deserializer<Conversation> deserializer,
      ExampleLabeler examples, PipelineMetrics metrics, FeedbackJoin join) {
    this.settings = settings;
    this.deserializer = deserializer;
    this.examples = examples;
    this.metrics = metrics;
    this.join = join;
  }

  @Override
  public void init(ProcessorContext<byte[], Outcome> context) {
    this.context = context;
    this.seen = context.getStateStore(SftTopology.DEDUP_STORE);
    if (join != null) {
      join.init(context, this);
    }
  }

  @Override
  public void process(Record<byte[], byte[]> record) {
    long started = System.nanoTime();
    try {
      RecordMetadata source = context.recordMetadata().orElseThrow();
      Parked input = new Parked(source.topic(), source.partition(), source.offset(),
          record.timestamp(), record.key(), record.value());
      if (join != null && source.topic().equals(join.topic())) {
        join.onFeedback(input);
      } else {
        onConversation(record, input);
      }
    } finally {
      metrics.processing().record(System.nanoTime() - started,
          java.util.concurrent.TimeUnit.NANOSECONDS);
    }
  }

  private void onConversation(Record<byte[], byte[]> record, Parked input) {
    Conversation conversation;
    try {
      conversation = deserializer.deserialize(input.topic(), record.value());
      if (conversation == null) {
        // A tombstone: an erasure's purge deleting a conversation by its key (docs/erasure.md).
        // Nothing to train and nothing to keep: a dead letter would only repeat the key.
        metrics.tombstone();
        return;
      }
    } catch (BadRecordException e) {
      reject(input, e.reason(), e.getMessage());
      return;
    }
    // Registry outages (SchemaRegistryException) propagate: never dead-letter a good record.

    try {
      settings.allowedAdapters().check(conversation.getId(), conversation.getAdapter(),
          conversation.getSubject());
    } catch (RejectedException e) {
      reject(input, e.reason(), e.detail());
      return;
    }
    if (accepted(conversation.getId(), record.timestamp())) {
      metrics.duplicate();
      return;
    }
    if (join == null) {
      prepare(conversation, input, record);
    } else if (join.onConversation(conversation, input)) {
      // Remembered while it waits: a repeat is dropped, and feedback after its release is late.
      // A conversation refused when it is finally labelled is forgotten again (see prepare).
      seen.put(conversation.getId(), record.timestamp(), record.timestamp());
    } else {
      metrics.duplicate();
    }
  }

  @Override
  public void example(Conversation conversation, Parked source) {
    prepare(conversation, source, null);
  }

  @Override
  public void reject(Parked source, RejectionReason reason, String detail) {
    metrics.rejected(reason);
    Rejection rejection = DeadLetters.rejection(reason, detail, settings.applicationId(),
        new DeadLetters.Source(source.topic(), source.partition(), source.offset(), source.key(),
            source.value()),
        Instant.ofEpochMilli(context.currentSystemTimeMs()), settings.maxOriginalBytes());
    context.forward(new Record<>(source.key(), new Outcome.Rejected(rejection),
        source.timestamp()));
  }

  @Override
  public boolean preference(io.continualsft.avro.PreferenceExample example, Parked source)
      throws RejectedException {
    long bytes = RecordSizes.wireBytes(example)
        + example.getConversationId().getBytes(StandardCharsets.UTF_8).length + 1024;
    if (bytes > settings.maxRecordBytes()) {
      throw new RejectedException(RejectionReason.RECORD_TOO_LARGE, "the preference example"
          + " would be a " + bytes + "-byte record (" + example.getInputIds().size()
          + " tokens), over the producer's max.request.size of " + settings.maxRecordBytes());
    }
    context.forward(new Record<>(source.key(), new Outcome.Preference(example),
        source.timestamp()));
    return true;
  }

  @Override
  public boolean accepted(String conversationId, long timestamp) {
    long window = settings.dedupWindow().toMillis();
    try (WindowStoreIterator<Long> hits = seen.fetch(conversationId, timestamp - window,
        timestamp + window)) {
      return hits.hasNext();
    }
  }

  /**
   * Labels {@code conversation} as read at {@code source} and forwards its example, or its dead
   * letter. {@code record} is the input record when it is being processed now (its headers go
   * with the example), null when it waited in the feedback join.
   */
  private void prepare(Conversation conversation, Parked source, Record<byte[], byte[]> record) {
    try {
      ExampleLabeler.Prepared prepared = examples.prepare(conversation, source.topic(),
          source.partition(), source.offset());
      checkSize(prepared.example());
      // Only accepted ids are remembered: a corrected event re-sent under the id of a rejected
      // one is processed, not dropped as a repeat. A retried bad event is dead-lettered again.
      seen.put(conversation.getId(), source.timestamp(), source.timestamp());
      metrics.accepted(prepared.renderedChars(), prepared.example().getInputIds().size(),
          prepared.example().getTrainedTokens(), prepared.truncated());
      Outcome outcome = new Outcome.Example(prepared.example());
      context.forward(record != null ? record.withValue(outcome)
          : new Record<>(source.key(), outcome, source.timestamp()));
      return;
    } catch (RejectedException e) {
      reject(source, e.reason(), e.detail());
    } catch (RuntimeException e) {
      // Preparing is pure computation on the record: a failure here is this record's (or a bug
      // it triggers), and retrying it would fail the same way forever. Dead-letter it, loudly.
      log.error("preparing {} partition {} offset {} failed unexpectedly; dead-lettered as UNKNOWN",
          source.topic(), source.partition(), source.offset(), e);
      reject(source, RejectionReason.UNKNOWN, "preparing the example failed: " + e);
    }
    if (join != null) {
      seen.put(conversation.getId(), null, source.timestamp()); // forgotten: see onConversation
    }
  }

  /**
   * Refuses an example whose record would be over the producer's max.request.size, which would
   * otherwise fail the stream thread on every restart. Exact sizes are only computed when a
   * cheap upper bound (5 bytes per varint token id and label) does not already settle it.
   */
  private void checkSize(SftExample example) throws RejectedException {
    long keyBytes = 4L * example.getConversationId().length();
    long framing = 1024; // record batch header, record headers, attribute and length varints
    long bound = 10L * example.getInputIds().size() + 4L * (example.getConversationId().length()
        + example.getAdapter().length() + example.getSourceTopic().length()
        + example.getTokenizerFingerprint().length() + example.getTemplateFingerprint().length())
        + 256;
    if (bound + keyBytes + framing <= settings.maxRecordBytes()) {
      return;
    }
    long exact = RecordSizes.wireBytes(example)
        + example.getConversationId().getBytes(StandardCharsets.UTF_8).length + framing;
    if (exact > settings.maxRecordBytes()) {
      throw new RejectedException(RejectionReason.RECORD_TOO_LARGE, "the example would be a "
          + exact + "-byte record (" + example.getInputIds().size() + " tokens), over the"
          + " producer's max.request.size of " + settings.maxRecordBytes());
    }
  }
}
