package io.continualsft.trainer.erasure;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.ErasureRequest;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class ErasuresTest {
  private static ErasureRequest request(String id, String conversation, String subject) {
    return ErasureRequest.newBuilder().setId(id).setConversationId(conversation)
        .setSubject(subject).setRequestedBy("test").setRequestedAt(Instant.EPOCH).build();
  }

  @Test
  void aConversationOrASubjectIsErasedAndAMalformedRequestIsCountedButIgnored() {
    Erasures erasures = Erasures.none();
    erasures.add(request("r1", "conv-1", null));
    erasures.add(request("r2", null, "person-9"));
    erasures.add(request("r3", "conv-2", "person-3")); // both: ignored
    erasures.add(request("r4", null, null)); // neither: ignored
    erasures.add(request("r5", null, "bad\u0000subject")); // a control character: ignored

    assertThat(erasures.count()).isEqualTo(5);
    assertThat(erasures.erases("conv-1", null)).isTrue();
    assertThat(erasures.erases("conv-7", "person-9")).isTrue();
    assertThat(erasures.erases("conv-7", null)).isFalse();
    assertThat(erasures.erases("conv-2", "person-3")).isFalse();
    assertThat(erasures.requestIdsSince(3)).containsExactly("r4", "r5");
  }

  /**
   * The count a manifest records is the topic's position, not the number of requests: compaction
   * of a repeated request lowers the number, never the position, so a request after it is
   * never taken for one already examined.
   */
  @Test
  void theCountIsTheTopicsPositionWhichCompactionDoesNotLower() {
    Erasures before = Erasures.none();
    before.add(request("r1", null, "person-1"));
    before.add(request("r1-again", null, "person-1"));
    before.readTo(4); // two requests, each with its commit marker
    assertThat(before.count()).isEqualTo(4);

    Erasures afterCompaction = Erasures.none(); // the first request compacted away
    afterCompaction.add(request("r1-again", null, "person-1"));
    afterCompaction.readTo(4);
    afterCompaction.add(request("r2", "conv-9", null));
    afterCompaction.readTo(6);
    assertThat(afterCompaction.count()).isEqualTo(6).isGreaterThan(before.count());
    assertThat(afterCompaction.requestIdsSince(before.count())).containsExactly("r2");
  }

  @Test
  void lineageCountsEachConversationOnceAndSaysWhetherAnErasureTouchesIt() {
    Lineage lineage = new Lineage();
    lineage.trained("conv-1", "person-1");
    lineage.replayed("conv-1", "person-1");
    lineage.trained("conv-2", null);
    lineage.replayed("conv-1", "person-1");

    assertThat(lineage.size()).isEqualTo(2);
    assertThat(lineage.entries().getFirst().getTrained()).isEqualTo(1);
    assertThat(lineage.entries().getFirst().getReplayed()).isEqualTo(2);
    Erasures erasures = Erasures.none();
    assertThat(lineage.touchedBy(erasures)).isFalse();
    erasures.add(request("r", null, "person-1"));
    assertThat(lineage.touchedBy(erasures)).isTrue();
  }
}
