package io.continualsft.chat.labels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.continualsft.avro.RejectionReason;
import org.junit.jupiter.api.Test;

/** adapters.allowed: names and globs, and what it refuses. */
class AllowedAdaptersTest {
  @Test
  void namesAndGlobsMatchWholeNames() {
    AllowedAdapters allowed = AllowedAdapters.parse(" support , team-* ,v?.x");
    assertThat(allowed.allows("support")).isTrue();
    assertThat(allowed.allows("support-2")).isFalse();
    assertThat(allowed.allows("team-")).isTrue();
    assertThat(allowed.allows("team-a.b")).isTrue();
    assertThat(allowed.allows("my-team-a")).isFalse();
    assertThat(allowed.allows("v1.x")).isTrue();
    assertThat(allowed.allows("v1x.x")).isFalse();
    assertThat(allowed.allows("v1-x")).as("'.' is literal, not a regex wildcard").isFalse();
    assertThat(allowed).hasToString("support,team-*,v?.x");
    assertThat(allowed.allowsAny()).isFalse();
    assertThat(AllowedAdapters.ANY.allows("anything")).isTrue();
    assertThat(AllowedAdapters.ANY.allowsAny()).isTrue();
  }

  @Test
  void anEmptySettingAllowsNothing() {
    AllowedAdapters none = AllowedAdapters.parse("");
    assertThat(none.allows("default")).isFalse();
    assertThatThrownBy(() -> none.check("default")).isInstanceOf(RejectedException.class)
        .hasMessageContaining("adapter \"default\" is not in adapters.allowed (empty)");
  }

  @Test
  void aRefusalCarriesItsReason() {
    try {
      AllowedAdapters.parse("a,b").check("c");
      throw new AssertionError("not refused");
    } catch (RejectedException e) {
      assertThat(e.reason()).isEqualTo(RejectionReason.ADAPTER_NOT_ALLOWED);
      assertThat(e.detail()).isEqualTo("adapter \"c\" is not in adapters.allowed (a,b)");
    }
  }

  @Test
  void entriesThatAreNotNamesOrPatternsAreRefusedByName() {
    assertThatThrownBy(() -> AllowedAdapters.parse("a,,b"))
        .hasMessage("an empty entry in \"a,,b\"");
    assertThatThrownBy(() -> AllowedAdapters.parse("a,../x"))
        .hasMessageContaining("\"../x\" is not an adapter name or a pattern");
    assertThatThrownBy(() -> AllowedAdapters.parse("[a-z]+"))
        .hasMessageContaining("\"[a-z]+\" is not");
  }
}
