package io.continualsft.trainer.service;

import io.continualsft.avro.ErasureRequest;
import io.continualsft.trainer.erasure.ErasureFeed;
import io.continualsft.trainer.erasure.Erasures;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * When erasure requests take effect. Every request joins the erased set as soon as it is read
 * (nothing erased is trained from then on); the rewind of the adapters it touches waits until
 * {@code erasure.batch-window} has passed since the first request not yet applied, so requests
 * that arrive together cost one rewind. Adapters restored from a checkpoint older than a request
 * are examined the same way.
 */
final class ErasureSchedule {
  private static final Logger log = LoggerFactory.getLogger(ErasureSchedule.class);

  private final ErasureFeed feed;
  private final Erasures erasures;
  private final ErasureRewind rewind;
  private final TrainerMetrics metrics;
  private final Clock clock;
  private final long batchWindowSeconds;
  private final String topic;
  private Instant pendingSince; // the first request not yet applied
  private final List<ErasureRequest> pending = new ArrayList<>();

  ErasureSchedule(ErasureFeed feed, Erasures erasures, ErasureRewind rewind,
      TrainerMetrics metrics, Clock clock, long batchWindowSeconds, String topic) {
    this.feed = feed;
    this.erasures = erasures;
    this.rewind = rewind;
    this.metrics = metrics;
    this.clock = clock;
    this.batchWindowSeconds = batchWindowSeconds;
    this.topic = topic;
  }

  /** Every request so far, read before the first record: nothing erased is trained. */
  void readAtStart() {
    erasures.readTo(feed.position()); // counted by position from here
    feed.readToEnd().forEach(erasures::add);
    erasures.readTo(feed.position());
    if (erasures.count() > 0) {
      log.info("{} erasure requests read from {}", erasures.count(), topic);
      pendingSince = Instant.ofEpochMilli(0); // examined at the first poll
    }
  }

  /**
   * Reads new requests; once the batch window has passed, rewinds every adapter they touch.
   * True when an adapter was rewound: the trainer then starts over from the offsets the rewind
   * committed.
   */
  boolean rewindWhenDue() {
    List<ErasureRequest> arrived = feed.poll();
    if (!arrived.isEmpty()) {
      arrived.forEach(erasures::add);
      erasures.readTo(feed.position());
      pending.addAll(arrived);
      log.info("{} erasure requests arrived ({} in all)", arrived.size(), erasures.count());
      if (pendingSince == null) {
        pendingSince = clock.instant();
      }
      metrics.erasuresPending(pending.size(), pending.stream()
          .mapToLong(r -> r.getRequestedAt().toEpochMilli()).min().orElse(0));
    }
    if (!rewind.due()) {
      applied(); // it touched no adapter here
      return false;
    }
    if (pendingSince == null) {
      pendingSince = clock.instant(); // an adapter restored from before a request
    }
    if (clock.instant().isBefore(pendingSince.plusSeconds(batchWindowSeconds))) {
      return false;
    }
    pendingSince = null;
    boolean rewound = rewind.apply();
    applied();
    return rewound;
  }

  private void applied() {
    long now = clock.millis();
    pending.forEach(r -> metrics.erasureApplied(r.getRequestedAt().toEpochMilli(), now));
    pending.clear();
    metrics.erasuresPending(0, 0);
  }
}
