package io.continualsft.trainer.service;

import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.model.Batch;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Deserializer;

/**
 * Replay against forgetting: for a step of n new examples, ρ/(1-ρ)·n examples already trained
 * are drawn back, uniformly over the offsets before {@code trainedThrough}, read from the
 * examples topic by offset and admitted again by the same rules (so held-out, dead-lettered and
 * other adapters' records are never drawn: a draw that lands on one tries another offset, up to
 * {@link #ATTEMPTS} times). An erased record (or a tombstone) is as absent: the draw takes the
 * record after it, as it would once compaction removed it. A share of the draws may come from
 * the retention set instead.
 *
 * <p>The draws are a function of the seed, the step number and {@code trainedThrough} (which a
 * checkpoint records) and of the log's contents, which Kafka never changes: a restarted trainer
 * draws exactly what an uninterrupted one does, as long as retention has not deleted the start
 * of the topic in between.
 */
final class ReplayDraw {
  /** Offsets tried per replay slot before the slot is left empty. */
  static final int ATTEMPTS = 8;

  /** What a step drew back. */
  record Drawn(List<Batch.Example> examples, long trainedTokens, List<String[]> ids) {
    static final Drawn NONE = new Drawn(List.of(), 0, List.of());
  }

  private final TrainerSettings.Replay settings;
  private final long seed;
  private final ExampleLog log;
  private final Deserializer<?> deserializer;
  private final ExampleAdmission admission;
  private final List<Batch.Example> retention;

  ReplayDraw(TrainerSettings.Replay settings, long seed, ExampleLog log,
      Deserializer<?> deserializer, ExampleAdmission admission,
      List<Batch.Example> retention) {
    this.settings = settings;
    this.seed = seed;
    this.log = log;
    this.deserializer = deserializer;
    this.admission = admission;
    this.retention = List.copyOf(retention);
  }

  /** The examples replayed into step {@code step}, which has {@code fresh} new examples. */
  Drawn draw(long step, int fresh, Map<TopicPartition, Long> trainedThrough) {
    int slots = settings.count(fresh);
    if (slots == 0 || log == null) {
      return Drawn.NONE;
    }
    SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + step);
    List<TopicPartition> partitions = trainedThrough.keySet().stream()
        .sorted(Comparator.comparing(TopicPartition::topic)
            .thenComparingInt(TopicPartition::partition))
        .toList();
    long[] from = new long[partitions.size()];
    long[] to = new long[partitions.size()];
    long total = 0;
    for (int i = 0; i < partitions.size(); i++) {
      from[i] = log.beginning(partitions.get(i));
      to[i] = Math.max(from[i], trainedThrough.get(partitions.get(i)));
      total += to[i] - from[i];
    }
    List<Batch.Example> drawn = new ArrayList<>();
    List<String[]> ids = new ArrayList<>();
    long tokens = 0;
    for (int slot = 0; slot < slots; slot++) {
      if (settings.retentionShare() > 0 && random.nextDouble() < settings.retentionShare()) {
        if (!retention.isEmpty()) {
          Batch.Example e = retention.get(random.nextInt(retention.size()));
          drawn.add(e);
          tokens += e.targets();
        }
        continue;
      }
      for (int attempt = 0; attempt < ATTEMPTS && total > 0; attempt++) {
        long pick = random.nextLong(total);
        int p = 0;
        while (pick >= to[p] - from[p]) {
          pick -= to[p] - from[p];
          p++;
        }
        ExampleAdmission.Decision decision = null;
        ConsumerRecord<byte[], byte[]> r = log.firstAtOrAfter(partitions.get(p), from[p] + pick,
            to[p]);
        // An erased record is as absent, as it is once compaction has removed it: the draw
        // moves on to the record after it, so the draws are the same before and after.
        while (r != null && (decision = admit(r)) instanceof ExampleAdmission.Erased) {
          r = log.firstAtOrAfter(partitions.get(p), r.offset() + 1, to[p]);
        }
        if (r != null && decision instanceof ExampleAdmission.Train train) {
          drawn.add(train.example());
          ids.add(new String[] {train.conversationId(), train.subject()});
          tokens += train.example().targets();
          break;
        }
      }
    }
    return new Drawn(drawn, tokens, ids);
  }

  /**
   * What admission says of {@code r}: a tombstone counts as erased (compaction removes it in
   * time, as it does the record it deletes); null when it is not an example (a dead letter).
   */
  private ExampleAdmission.Decision admit(ConsumerRecord<byte[], byte[]> r) {
    if (r.value() == null) {
      return new ExampleAdmission.Erased();
    }
    try {
      Object e = deserializer.deserialize(r.topic(), r.value());
      return e == null ? new ExampleAdmission.Erased() : admission.admit(e);
    } catch (RuntimeException notAnExample) { // a dead letter when first read: not drawn
      return null;
    }
  }
}
