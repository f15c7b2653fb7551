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
  void anErasureMovesServingOffARevokedReleaseToTheNewestCleanOneOrToNone() {
    AdapterRelease v3 = Releases.next(Optional.empty(), "a", 3, ReleaseDecision.GATE_PASSED,
        "passed", Map.of(), T);
    AdapterRelease v7 = Releases.next(Optional.of(v3), "a", 7, ReleaseDecision.GATE_PASSED,
        "passed", Map.of(), T);
    AdapterRelease held = Releases.hold(v7, "checking", T);

    // The release is not revoked: the same release, the list grown.
    AdapterRelease kept = Releases.revoke(Optional.of(held), "a", java.util.List.of(8L, 9L),
        "erasure requests r1", T).orElseThrow();
    assertThat(kept.getVersion()).isEqualTo(7);
    assertThat(kept.getRevoked()).containsExactly(8L, 9L);
    assertThat(kept.getHold()).isNotNull();
    assertThat(Releases.revoke(Optional.of(kept), "a", java.util.List.of(9L), "again", T))
        .as("nothing new").isEmpty();

    // v7 revoked: back to v3, the hold kept.
    AdapterRelease back = Releases.revoke(Optional.of(kept), "a", java.util.List.of(5L, 6L, 7L),
        "erasure requests r2", T).orElseThrow();
    assertThat(back.getVersion()).isEqualTo(3);
    assertThat(back.getDecision()).isEqualTo(ReleaseDecision.REVOKED);
    assertThat(back.getReplaces()).isEqualTo(7L);
    assertThat(back.getRevoked()).containsExactly(5L, 6L, 7L, 8L, 9L);
    assertThat(back.getReason()).isEqualTo("back to v3 (erasure requests r2)");
    assertThat(back.getHold()).isNotNull();
    assertThat(Releases.isRevoked(Optional.of(back), 7)).isTrue();
    assertThat(Releases.isRevoked(Optional.of(back), 3)).isFalse();

    // Everything revoked: version 0, serve none; a later release keeps the list.
    AdapterRelease none = Releases.revoke(Optional.of(back), "a", java.util.List.of(1L, 2L, 3L),
        "erasure requests r3", T).orElseThrow();
    assertThat(none.getVersion()).isZero();
    assertThat(none.getDecision()).isEqualTo(ReleaseDecision.REVOKED);
    AdapterRelease next = Releases.next(Optional.of(none), "a", 12, ReleaseDecision.GATE_PASSED,
        "passed", Map.of(), T);
    assertThat(next.getRevoked()).containsExactly(1L, 2L, 3L, 5L, 6L, 7L, 8L, 9L);
    assertThat(Releases.revoke(Optional.empty(), "a", java.util.List.of(1L), "r", T)
        .orElseThrow().getVersion()).as("no release yet: a record of the revoked list")
        .isZero();
    // A forged release in the history (a version that was never a checkpoint) is passed over.
    AdapterRelease forged = Releases.next(Optional.of(v3), "a", 999, ReleaseDecision.MANUAL,
        "forged", Map.of(), T);
    AdapterRelease afterForgery = Releases.next(Optional.of(forged), "a", 7,
        ReleaseDecision.GATE_PASSED, "passed", Map.of(), T);
    assertThat(Releases.revoke(Optional.of(afterForgery), "a", java.util.List.of(7L), "r", T,
        v -> v <= 7).orElseThrow().getVersion()).isEqualTo(3);
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
