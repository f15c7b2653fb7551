package io.continualsft.trainer.release;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.AdapterRelease;
import io.continualsft.avro.PastRelease;
import io.continualsft.avro.ReleaseDecision;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;

class ReleasesTest {
  static final Instant T = Instant.parse("2026-11-30T10:00:00.123456Z");

  @Test
  void eachReleaseReplacesTheCurrentOneAndCarriesItInFrontOfItsHistory() {
    AdapterRelease first = Releases.next(Optional.empty(), "a", 3, ReleaseDecision.GATE_PASSED,
        "passed", Map.of("eval_loss", 2.0), T);
    assertThat(first.getReplaces()).isNull();
    assertThat(first.getHistory()).isEmpty();
    assertThat(first.getReleasedAt()).isEqualTo(Instant.parse("2026-11-30T10:00:00.123Z"));
    AdapterRelease second = Releases.next(Optional.of(first), "a", 7,
        ReleaseDecision.GATE_PASSED, "passed", Map.of(), T);
    AdapterRelease rollback = Releases.next(Optional.of(second), "a", 3, ReleaseDecision.MANUAL,
        "v7 answers in the wrong language", Map.of(), T);
    assertThat(rollback.getReplaces()).isEqualTo(7L);
    assertThat(Releases.history(rollback)).extracting(PastRelease::getVersion)
        .containsExactly(3L, 7L, 3L);
    assertThat(Releases.history(rollback)).extracting(PastRelease::getDecision)
        .containsExactly(ReleaseDecision.MANUAL, ReleaseDecision.GATE_PASSED,
            ReleaseDecision.GATE_PASSED);
    assertThat(rollback.getHistory().get(1).getMetrics()).containsEntry("eval_loss", 2.0);
  }

  @Test
  void theHistoryKeepsTheNewestHundred() {
    Optional<AdapterRelease> current = Optional.empty();
    for (long v = 1; v <= 150; v++) {
      current = Optional.of(Releases.next(current, "a", v, ReleaseDecision.UNGATED, "", Map.of(),
          T));
    }
    assertThat(current.get().getHistory()).extracting(PastRelease::getVersion)
        .containsExactlyElementsOf(LongStream.rangeClosed(50, 149).map(v -> 199 - v).boxed()
            .toList());
  }
}
