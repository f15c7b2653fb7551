package io.continualsft.trainer.service;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * The examples topic read back by offset: replay's buffer is the log itself, so the trainer
 * holds no copy of what it trained, whatever the stream's length. A consumer of its own (no
 * group, read_committed), assigned one partition at a time and sought to each draw.
 */
public final class ExampleLog implements AutoCloseable {
  private final Consumer<byte[], byte[]> consumer;
  private final Duration patience;

  public ExampleLog(Consumer<byte[], byte[]> consumer, Duration patience) {
    this.consumer = consumer;
    this.patience = patience;
  }

  /** The log start offset of {@code tp} (it moves when the topic's retention deletes). */
  public long beginning(TopicPartition tp) {
    return consumer.beginningOffsets(List.of(tp)).get(tp);
  }

  /**
   * The first committed record of {@code tp} at or after {@code offset} and before {@code
   * below}, or null when there is none (the offsets between hold transaction markers only).
   *
   * @throws IllegalStateException when the partition could not be read within the patience
   */
  public ConsumerRecord<byte[], byte[]> firstAtOrAfter(TopicPartition tp, long offset,
      long below) {
    if (!consumer.assignment().equals(java.util.Set.of(tp))) {
      consumer.assign(List.of(tp));
    }
    consumer.seek(tp, offset);
    Instant deadline = Instant.now().plus(patience);
    while (consumer.position(tp) < below) {
      if (!Instant.now().isBefore(deadline)) {
        throw new IllegalStateException("replay could not read " + tp + " at offset " + offset
            + " within " + patience + "; is the broker reachable?");
      }
      for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
        if (r.offset() >= offset) {
          return r.offset() < below ? r : null;
        }
      }
    }
    return null;
  }

  @Override
  public void close() {
    consumer.close(Duration.ofSeconds(5));
  }
}
