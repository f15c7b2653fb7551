package io.continualsft.trainer.checkpoint;

import io.continualsft.schemas.serde.BadRecordException;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.serialization.Deserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads a topic that is input to be checked, not trusted: a record whose bytes do not decode
 * becomes null (which readers of the checkpoint topic skip) with a log line and a count, instead
 * of an exception that would stop {@code poll} on the same record forever. Registry outages still
 * throw: they say nothing about the record.
 */
public final class SkippingDeserializer<T> implements Deserializer<T> {
  private static final Logger log = LoggerFactory.getLogger(SkippingDeserializer.class);
  private final Deserializer<T> inner;
  private final AtomicLong skipped = new AtomicLong();

  public SkippingDeserializer(Deserializer<T> inner) {
    this.inner = inner;
  }

  @Override
  public T deserialize(String topic, byte[] data) {
    try {
      return inner.deserialize(topic, data);
    } catch (BadRecordException e) {
      skipped.incrementAndGet();
      log.warn("skipping an undecodable record of {} ({}): {}", topic, e.reason(), e.getMessage());
      return null;
    }
  }

  /** Records skipped so far. */
  public long skipped() {
    return skipped.get();
  }

  @Override
  public void close() {
    inner.close();
  }
}
