package io.continualsft.chat.template;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Templates that would do unbounded work stop with a TemplateException naming the budget. */
class RenderBudgetTest {
  private static String render(String source, Map<String, ?> vars) {
    return JinjaTemplate.compile(source).render(vars);
  }

  @Test
  void aHugeStringRepetitionIsRefusedBeforeItIsBuilt() {
    assertThatThrownBy(() -> render("{{ 'a' * 10**9 }}", Map.of()))
        .isInstanceOf(TemplateException.class)
        .hasMessageContaining("string repetition would be 1 x 1000000000 characters");
    assertThat(render("{{ 'ab' * 3 }}", Map.of())).isEqualTo("ababab");
  }

  @Test
  void aHugePowerIsRefusedInsteadOfLoopingOrWrapping() {
    assertThatThrownBy(() -> render("{{ 2 ** 10**18 }}", Map.of()))
        .isInstanceOf(TemplateException.class)
        .hasMessageContaining("64-bit range");
    assertThat(render("{{ 2 ** 62 }} {{ (-3) ** 3 }} {{ 1 ** 10**18 }} {{ 7 ** 0 }}", Map.of()))
        .isEqualTo("4611686018427387904 -27 1 1");
  }

  @Test
  void integerOverflowIsRefusedNotWrapped() {
    assertThatThrownBy(() -> render("{{ 9223372036854775807 + 1 }}", Map.of()))
        .hasMessageContaining("64-bit range");
    assertThatThrownBy(() -> render("{{ 4294967296 * 4294967296 }}", Map.of()))
        .hasMessageContaining("64-bit range");
  }

  @Test
  void unboundedRecursionStopsAtTheCallDepth() {
    assertThatThrownBy(() -> render(
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", Map.of()))
        .isInstanceOf(TemplateException.class)
        .hasMessageContaining("macro 'f' nested more than 100 calls deep");
    assertThat(render("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        + "{{ f(5) }}", Map.of())).isEqualTo("54321");
  }

  @Test
  void loopsOverLoopsStopAtTheStepBudget() {
    assertThatThrownBy(() -> render(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        Map.of()))
        .isInstanceOf(TemplateException.class)
        .hasMessageContaining("more than " + RenderBudget.MAX_STEPS + " loop iterations");
  }

  @Test
  void aHugeListRepetitionIsRefused() {
    assertThatThrownBy(() -> render("{{ ([1, 2] * 10**9) | length }}", Map.of()))
        .hasMessageContaining("list repetition would have 2 x 1000000000 items");
  }

  @Test
  void deeplyNestedDataIsATemplateErrorNotAStackOverflow() {
    Object nested = List.of();
    for (int i = 0; i < 200_000; i++) {
      nested = List.of(nested);
    }
    Object data = nested;
    assertThatThrownBy(() -> render("{{ x | tojson }}", Map.of("x", data)))
        .isInstanceOf(TemplateException.class);
  }
}
