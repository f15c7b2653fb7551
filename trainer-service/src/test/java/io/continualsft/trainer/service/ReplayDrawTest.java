package io.continualsft.trainer.service;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.SftExample;
import io.continualsft.schemas.registry.InMemorySchemaRegistry;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.testing.LogConsumer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

class ReplayDrawTest {
  static final TopicPartition IN = TrainerServiceTest.IN;
  private final InMemorySchemaRegistry registry = new InMemorySchemaRegistry();
  private final AvroSerializer<SftExample> serializer = new AvroSerializer<>(registry, false);

  /** 40 records: trainable examples, held-out ones, another adapter's, junk; markers between. */
  private LogConsumer<byte[], byte[]> log(Set<String> trainable) {
    LogConsumer<byte[], byte[]> log = new LogConsumer<>(7);
    log.createTopic(TrainerServiceTest.EXAMPLES, 1);
    for (int i = 0; i < 40; i++) {
      SftExample e = TrainerServiceTest.example("c-" + i, i);
      if (i % 9 == 4) {
        e = SftExample.newBuilder(e).setAdapter("other").build();
      }
      byte[] value = i % 11 == 6 ? new byte[] {9, 9} : serializer.serialize("x", e);
      log.append(IN, e.getConversationId().getBytes(StandardCharsets.UTF_8), value, i % 3);
      if (i % 9 != 4 && i % 11 != 6 && !ExampleAdmission.heldOut("c-" + i, 0.25)) {
        trainable.add(Arrays.toString(Batch.Example.of(e.getInputIds(), e.getLabels()).ids()));
      }
    }
    return log;
  }

  private ReplayDraw draw(LogConsumer<byte[], byte[]> log, double rho) {
    return draw(log, rho, io.continualsft.trainer.erasure.Erasures.none());
  }

  private ReplayDraw draw(LogConsumer<byte[], byte[]> log, double rho,
      io.continualsft.trainer.erasure.Erasures erasures) {
    return new ReplayDraw(new TrainerSettings.Replay(rho, 0), 3,
        new ExampleLog(log, Duration.ofSeconds(5)),
        AvroDeserializer.specific(SftExample.class, registry),
        new ExampleAdmission(name -> name.equals("default"),
            io.continualsft.chat.labels.AllowedAdapters.ANY,
            TrainerServiceTest.IDENTITY.tokenizerFingerprint(), 96, 32, 0.25, erasures),
        List.of());
  }

  /**
   * An erased record is as absent: the draws over a log holding it, with the erasure known, are
   * those over the same log once compaction has removed it (every other record at its offset),
   * and never the erased example.
   */
  @Test
  void aDrawOnAnErasedRecordTakesTheRecordAfterItAsIfCompactedAway() {
    List<String> erasedIds = List.of("c-1", "c-2", "c-8", "c-20");
    io.continualsft.trainer.erasure.Erasures erasures =
        io.continualsft.trainer.erasure.Erasures.none();
    for (String id : erasedIds) {
      erasures.add(io.continualsft.avro.ErasureRequest.newBuilder().setId("r-" + id)
          .setConversationId(id).setRequestedBy("test").setRequestedAt(java.time.Instant.EPOCH)
          .build());
    }
    LogConsumer<byte[], byte[]> withErased = log(new HashSet<>());
    // The same log compacted: the erased records' offsets are gaps, every other record at its
    // offset.
    LogConsumer<byte[], byte[]> compactedLog = new LogConsumer<>(7);
    compactedLog.createTopic(TrainerServiceTest.EXAMPLES, 1);
    Set<String> erasedExamples = new HashSet<>();
    List<Object[]> kept = new ArrayList<>(); // key, value, gap after it
    for (int i = 0; i < 40; i++) {
      SftExample e = TrainerServiceTest.example("c-" + i, i);
      if (i % 9 == 4) {
        e = SftExample.newBuilder(e).setAdapter("other").build();
      }
      byte[] value = i % 11 == 6 ? new byte[] {9, 9} : serializer.serialize("x", e);
      if (erasedIds.contains("c-" + i)) {
        erasedExamples.add(Arrays.toString(Batch.Example.of(e.getInputIds(), e.getLabels())
            .ids()));
        Object[] before = kept.getLast();
        before[2] = (int) before[2] + 1 + i % 3;
        continue;
      }
      kept.add(new Object[] {e.getConversationId().getBytes(StandardCharsets.UTF_8), value,
          i % 3});
    }
    for (Object[] r : kept) {
      compactedLog.append(IN, (byte[]) r[0], (byte[]) r[1], (int) r[2]);
    }
    assertThat(compactedLog.endOffsets(List.of(IN)).get(IN))
        .isEqualTo(withErased.endOffsets(List.of(IN)).get(IN));
    long end = withErased.endOffsets(List.of(IN)).get(IN);
    ReplayDraw erasing = draw(withErased, 0.5, erasures);
    ReplayDraw compacted = draw(compactedLog, 0.5);
    ReplayDraw unaware = draw(log(new HashSet<>()), 0.5);
    boolean differs = false;
    for (long step = 1; step <= 60; step++) {
      ReplayDraw.Drawn d = erasing.draw(step, 6, Map.of(IN, end));
      List<String> ids = d.examples().stream().map(e -> Arrays.toString(e.ids())).toList();
      assertThat(ids).doesNotContainAnyElementsOf(erasedExamples);
      assertThat(d.ids().stream().map(x -> x[0]).toList())
          .doesNotContainAnyElementsOf(erasedIds);
      assertThat(compacted.draw(step, 6, Map.of(IN, end)).examples().stream()
          .map(e -> Arrays.toString(e.ids())).toList()).isEqualTo(ids);
      differs |= !unaware.draw(step, 6, Map.of(IN, end)).examples().stream()
          .map(e -> Arrays.toString(e.ids())).toList().equals(ids);
    }
    assertThat(differs).as("the erasure changed some draw").isTrue();
  }

  @Test
  void onlyTrainableExamplesOfThisAdapterAreDrawnAndTheDrawRepeats() {
    Set<String> trainable = new HashSet<>();
    LogConsumer<byte[], byte[]> log = log(trainable);
    long end = log.endOffsets(List.of(IN)).get(IN);
    ReplayDraw draw = draw(log, 0.25);
    ReplayDraw again = draw(log(new HashSet<>()), 0.25);
    int drawn = 0;
    for (long step = 1; step <= 50; step++) {
      ReplayDraw.Drawn d = draw.draw(step, 9, Map.of(IN, end));
      // round(9 · 0.25 / 0.75) = 3 slots; a slot whose 8 tries all land on records that are
      // not trainable (about half of this log) stays empty.
      assertThat(d.examples()).hasSizeLessThanOrEqualTo(3);
      for (Batch.Example e : d.examples()) {
        assertThat(trainable).contains(Arrays.toString(e.ids()));
      }
      assertThat(d.trainedTokens()).isEqualTo(4L * d.examples().size());
      ReplayDraw.Drawn same = again.draw(step, 9, Map.of(IN, end));
      assertThat(same.examples().stream().map(e -> Arrays.toString(e.ids())).toList())
          .isEqualTo(d.examples().stream().map(e -> Arrays.toString(e.ids())).toList());
      drawn += d.examples().size();
    }
    assertThat(drawn).isGreaterThan(140);
  }

  @Test
  void nothingIsDrawnWithoutAFractionOrBeforeAnythingWasTrained() {
    LogConsumer<byte[], byte[]> log = log(new HashSet<>());
    assertThat(draw(log, 0).draw(1, 9, Map.of(IN, 40L)).examples()).isEmpty();
    assertThat(draw(log, 0.25).draw(1, 9, Map.of()).examples()).isEmpty();
    assertThat(draw(log, 0.25).draw(1, 9, Map.of(IN, 0L)).examples()).isEmpty();
    List<Batch.Example> fromFirstOnly = new ArrayList<>(
        draw(log, 0.5).draw(7, 4, Map.of(IN, 1L)).examples());
    assertThat(fromFirstOnly).allSatisfy(e -> assertThat(e.ids()).isEqualTo(
        Batch.Example.of(TrainerServiceTest.example("c-0", 0).getInputIds(),
            TrainerServiceTest.example("c-0", 0).getLabels()).ids()));
  }
}
