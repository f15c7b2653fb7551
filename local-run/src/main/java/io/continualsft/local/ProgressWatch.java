package io.continualsft.local;

import io.continualsft.runtime.progress.ProgressLine;
import io.continualsft.streams.metrics.PipelineMetrics;
import io.continualsft.trainer.service.Published;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Prints the run's progress until the streams app has processed every line and the trainer has
 * published a checkpoint through the end of the examples topic: from the streams app's own
 * counts and the trainer's published checkpoints, not from metric names.
 */
final class ProgressWatch {
  private final PipelineMetrics streams;
  private final CompletableFuture<Void> training;
  private final List<Published> published;
  private final Duration timeout;

  ProgressWatch(PipelineMetrics streams, CompletableFuture<Void> training,
      List<Published> published, Duration timeout) {
    this.streams = streams;
    this.training = training;
    this.published = published;
    this.timeout = timeout;
  }

  RunSummary.Counts await(Map<String, Object> kafka, String examplesTopic, long lines) {
    Instant deadline = Instant.now().plus(timeout);
    String last = "";
    // On a terminal one line with a bar and an ETA; in a log the plain lines, as before.
    ProgressLine bar = ProgressLine.isTerminal() ? ProgressLine.on(System.out) : null;
    Map<String, Object> config = new java.util.HashMap<>(kafka);
    config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    try (var consumer = new KafkaConsumer<>(config,
        new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      TopicPartition examples = new TopicPartition(examplesTopic, 0);
      while (true) {
        if (training.isCompletedExceptionally()) {
          training.join(); // rethrows why the trainer stopped
        }
        double accepted = streams.acceptedCount();
        double duplicates = streams.duplicateCount();
        double rejected = streams.rejectedCount();
        long processed = processed(streams);
        long end = consumer.endOffsets(List.of(examples)).get(examples);
        Published newest = published.isEmpty() ? null : published.getLast();
        long trainedThrough = newest == null ? 0 : newest.offsets().getOrDefault(examples, 0L);
        String line = streamsLine(streams, lines) + String.format(" | trainer through %d/%d"
            + " examples, %d checkpoints", trainedThrough, end, published.size());
        // The streams app's share is quick, the trainer's is the run: a tenth and the rest.
        double fraction = 0.1 * processed / Math.max(1, lines)
            + 0.9 * (end == 0 ? 0 : (double) trainedThrough / end);
        if (bar != null) {
          bar.update(fraction, line.substring("[progress] ".length()));
        } else if (!line.equals(last)) {
          LocalRun.say(line);
          last = line;
        }
        if (processed >= lines && end > 0 && trainedThrough >= end) {
          if (bar != null) {
            bar.done();
          }
          return new RunSummary.Counts(lines, (long) accepted, (long) rejected, (long) duplicates);
        }
        if (Instant.now().isAfter(deadline)) {
          throw new IllegalStateException(String.format("not drained after %d minutes: the"
              + " streams app processed %d of %d conversations, the trainer's last checkpoint is"
              + " at offset %d of %d (raise --timeout-minutes, or see the logs above)",
              timeout.toMinutes(), processed, lines, trainedThrough, end));
        }
        sleep(1000);
      }
    }
  }

  /**
   * Until the streams app has processed {@code lines} conversations and committed what it wrote
   * to {@code examplesTopic} (no transaction open there: its last stable offset is its end),
   * printing its counts.
   */
  static void awaitStreams(PipelineMetrics streams, long lines, Map<String, Object> kafka,
      String examplesTopic, Duration timeout) {
    Instant deadline = Instant.now().plus(timeout);
    String last = "";
    Map<String, Object> committed = new java.util.HashMap<>(kafka);
    committed.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    Map<String, Object> uncommitted = new java.util.HashMap<>(kafka);
    uncommitted.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
    try (var stable = new KafkaConsumer<>(committed, new ByteArrayDeserializer(),
            new ByteArrayDeserializer());
        var written = new KafkaConsumer<>(uncommitted, new ByteArrayDeserializer(),
            new ByteArrayDeserializer())) {
      List<TopicPartition> partitions = stable.partitionsFor(examplesTopic).stream()
          .map(p -> new TopicPartition(examplesTopic, p.partition())).toList();
      while (true) {
        String line = streamsLine(streams, lines);
        if (!line.equals(last)) {
          LocalRun.say(line);
          last = line;
        }
        long processed = processed(streams);
        if (processed >= lines
            && stable.endOffsets(partitions).equals(written.endOffsets(partitions))) {
          return;
        }
        if (Instant.now().isAfter(deadline)) {
          throw new IllegalStateException(String.format("the streams app processed %d of %d"
              + " conversations in %d minutes (raise --timeout-minutes, or see the logs above)",
              processed, lines, timeout.toMinutes()));
        }
        sleep(200);
      }
    }
  }

  /** Conversations the streams app has made an example, a dead letter or a duplicate of. */
  private static long processed(PipelineMetrics streams) {
    return (long) (streams.acceptedCount() + streams.duplicateCount() + streams.rejectedCount());
  }

  /** The streams app's part of a progress line. */
  private static String streamsLine(PipelineMetrics streams, long lines) {
    return String.format("[progress] conversations %d/%d -> %.0f examples, %.0f dead letters,"
        + " %.0f duplicates", processed(streams), lines, streams.acceptedCount(),
        streams.rejectedCount(), streams.duplicateCount());
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
