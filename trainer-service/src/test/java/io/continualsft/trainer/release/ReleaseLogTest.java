package io.continualsft.trainer.release;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.continualsft.avro.AdapterRelease;
import io.continualsft.avro.ReleaseDecision;
import io.continualsft.trainer.checkpoint.CheckpointLocator;
import io.continualsft.trainer.checkpoint.CheckpointLookupException;
import io.continualsft.trainer.testing.LogConsumer;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

class ReleaseLogTest {
  static final String TOPIC = "releases";
  static final Duration PATIENCE = Duration.ofSeconds(5);

  static AdapterRelease release(String adapter, long version) {
    return Releases.next(Optional.empty(), adapter, version, ReleaseDecision.GATE_PASSED, "ok",
        Map.of(), Instant.EPOCH);
  }

  static LogConsumer<String, AdapterRelease> topic(int partitions) {
    LogConsumer<String, AdapterRelease> log = new LogConsumer<>(50);
    log.createTopic(TOPIC, partitions);
    return log;
  }

  static TopicPartition partitionOf(String adapter, int partitions) {
    return new TopicPartition(TOPIC, CheckpointLocator.partitionFor(adapter, partitions));
  }

  @Test
  void theCurrentReleaseIsTheLastValidRecordOfTheAdapterAndForgeriesAreSkipped() {
    LogConsumer<String, AdapterRelease> log = topic(1);
    TopicPartition tp = partitionOf("a", 1);
    log.append(tp, "a", release("a", 3), 0);
    log.append(tp, "a", release("a", 5), 1); // then a transaction marker
    log.append(tp, "b", release("b", 9), 0); // another adapter
    log.append(tp, "a", release("b", 7), 0); // key and adapter disagree
    log.append(tp, "a", release("a", 0), 0); // no such version
    log.append(tp, "a", null, 0); // did not decode, or a tombstone
    assertThat(ReleaseLog.current(log, TOPIC, "a", PATIENCE)).map(AdapterRelease::getVersion)
        .contains(5L);
    assertThat(ReleaseLog.current(log, TOPIC, "b", PATIENCE)).map(AdapterRelease::getVersion)
        .contains(9L);
    assertThat(ReleaseLog.current(log, TOPIC, "c", PATIENCE)).isEmpty();
  }

  /**
   * Forged releases of issue 28's list: a history of a million entries (the broker's record
   * size would stop it first; here it reaches the reader anyway), a negative version, a key
   * naming another adapter than the record: each skipped, the last valid release stays current.
   */
  @Test
  void forgedReleasesAreSkippedAndTheLastValidOneStays() {
    LogConsumer<String, AdapterRelease> log = topic(1);
    TopicPartition tp = partitionOf("a", 1);
    log.append(tp, "a", release("a", 4), 0);
    io.continualsft.avro.PastRelease past = Releases.next(Optional.of(release("a", 1)), "a", 2,
        ReleaseDecision.GATE_PASSED, "ok", Map.of(), Instant.EPOCH).getHistory().getFirst();
    java.util.List<io.continualsft.avro.PastRelease> million =
        java.util.Collections.nCopies(1_000_000, past);
    log.append(tp, "a", AdapterRelease.newBuilder(release("a", 9)).setHistory(million).build(), 0);
    log.append(tp, "a", release("a", -3), 0);
    log.append(tp, "b", release("a", 8), 0); // another adapter's key over a's record
    assertThat(ReleaseLog.current(log, TOPIC, "a", PATIENCE)).map(AdapterRelease::getVersion)
        .contains(4L);
    assertThat(ReleaseLog.current(log, TOPIC, "b", PATIENCE)).isEmpty();
  }

  @Test
  void aReleaseFarBehindOtherAdaptersRecordsIsFoundByWideningTheWindow() {
    LogConsumer<String, AdapterRelease> log = topic(1);
    TopicPartition tp = partitionOf("a", 1);
    log.append(tp, "a", release("a", 2), 0);
    for (int i = 0; i < 500; i++) {
      log.append(tp, "other", release("other", i + 1), 0);
    }
    assertThat(ReleaseLog.current(log, TOPIC, "a", PATIENCE)).map(AdapterRelease::getVersion)
        .contains(2L);
  }

  @Test
  void aMissingTopicIsAnErrorNamingIt() {
    assertThatThrownBy(() -> ReleaseLog.current(topic(1), "nope", "a", PATIENCE))
        .isInstanceOf(CheckpointLookupException.class)
        .hasMessageContaining("the releases topic nope does not exist")
        .hasMessageContaining("cleanup.policy=compact");
  }
}
