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
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.state.WindowStoreIterator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Deserialize, drop repeats, prepare: one input record in, at most one outcome out. */
final class ConversationProcessor implements FixedKeyProcessor<byte[], byte[], Outcome> {
  private static final Logger log = LoggerFactory.getLogger(ConversationProcessor.class);
  private final TopologySettings settings;
  private final Deserializer<Conversation> deserializer;
  private final ExampleLabeler examples;
  private final PipelineMetrics metrics;
  private FixedKeyProcessorContext<byte[], Outcome> context;
  private WindowStore<String, Long> seen;

  ConversationProcessor(TopologySettings settings, Deserializer<Conversation> deserializer,
      ExampleLabeler examples, PipelineMetrics metrics) {
    this.settings = settings;
    this.deserializer = deserializer;
    this.examples = examples;
    this.metrics = metrics;
  }

  @Override
  public void init(FixedKeyProcessorContext<byte[], Outcome> context) {
    this.context = context;
    this.seen = context.getStateStore(SftTopology.DEDUP_STORE);
  }

  @Override
  public void process(FixedKeyRecord<byte[], byte[]> record) {
    long started = System.nanoTime();
    RecordMetadata source = context.recordMetadata().orElseThrow();
    Conversation conversation;
    try {
      conversation = deserializer.deserialize(source.topic(), record.value());
      if (conversation == null) {
        // A tombstone: an erasure's purge deleting a conversation by its key (docs/erasure.md).
        // Nothing to train and nothing to keep: a dead letter would only repeat the key.
        metrics.tombstone();
        return;
      }
    } catch (BadRecordException e) {
      reject(record, source, e.reason(), e.getMessage());
      return;
    }
    // Registry outages (SchemaRegistryException) propagate: never dead-letter a good record.

    try {
      settings.allowedAdapters().check(conversation.getId(), conversation.getAdapter(),
          conversation.getSubject());
    } catch (RejectedException e) {
      reject(record, source, e.reason(), e.detail());
      return;
    }
    if (alreadyAccepted(conversation.getId(), record.timestamp())) {
      metrics.duplicate();
      return;
    }
    try {
      ExampleLabeler.Prepared prepared = examples.prepare(conversation, source.topic(),
          source.partition(), source.offset());
      checkSize(prepared.example());
      // Only accepted ids are remembered: a corrected event re-sent under the id of a rejected
      // one is processed, not dropped as a repeat. A retried bad event is dead-lettered again.
      seen.put(conversation.getId(), record.timestamp(), record.timestamp());
      metrics.accepted(prepared.renderedChars(), prepared.example().getInputIds().size(),
          prepared.example().getTrainedTokens(), prepared.truncated());
      context.forward(record.withValue(new Outcome.Example(prepared.example())));
    } catch (RejectedException e) {
      reject(record, source, e.reason(), e.detail());
    } catch (RuntimeException e) {
      // Preparing is pure computation on the record: a failure here is this record's (or a bug
      // it triggers), and retrying it would fail the same way forever. Dead-letter it, loudly.
      log.error("preparing {} partition {} offset {} failed unexpectedly; dead-lettered as UNKNOWN",
          source.topic(), source.partition(), source.offset(), e);
      reject(record, source, RejectionReason.UNKNOWN, "preparing the example failed: " + e);
    } finally {
      metrics.processing().record(System.nanoTime() - started, java.util.concurrent.TimeUnit.NANOSECONDS);
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

  /**
   * Whether {@code id} was seen within the dedup window around {@code timestamp}; records it if
   * not. Repeats are judged by the records' own timestamps, so a replay of old records is caught.
   */
  private boolean alreadyAccepted(String id, long timestamp) {
    long window = settings.dedupWindow().toMillis();
    try (WindowStoreIterator<Long> hits = seen.fetch(id, timestamp - window, timestamp + window)) {
      return hits.hasNext();
    }
  }

  private void reject(FixedKeyRecord<byte[], byte[]> record, RecordMetadata source,
      RejectionReason reason, String detail) {
    metrics.rejected(reason);
    Rejection rejection = DeadLetters.rejection(reason, detail, settings.applicationId(),
        new DeadLetters.Source(source.topic(), source.partition(), source.offset(), record.key(),
            record.value()),
        Instant.ofEpochMilli(context.currentSystemTimeMs()), settings.maxOriginalBytes());
    context.forward(record.withValue(new Outcome.Rejected(rejection)));
  }
}
