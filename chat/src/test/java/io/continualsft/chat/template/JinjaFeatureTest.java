package io.continualsft.chat.template;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.continualsft.chat.TestModels;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * One small template per language feature (text and whitespace control, expressions,
 * statements, globals, every filter and test, errors), each rendered exactly as Python jinja2
 * renders it when configured as transformers configures it (src/test/fixtures-gen/
 * jinja_features.py wrote the expected outputs).
 */
class JinjaFeatureTest {
  static Stream<Arguments> cases() {
    List<Arguments> out = new ArrayList<>();
    for (JsonNode c : TestModels.json("/fixtures/jinja-features.json").get("cases")) {
      out.add(Arguments.of(c.get("group").asText(), c.get("name").asText(), c));
    }
    return out.stream();
  }

  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("cases")
  void rendersAsJinja2(String group, String name, JsonNode c) {
    String source = c.get("template").asText();
    @SuppressWarnings("unchecked")
    Map<String, Object> context = TestModels.JSON.convertValue(c.get("context"), Map.class);
    if (c.has("output")) {
      assertThat(JinjaTemplate.compile(source).render(context, TestModels.FIXED))
          .as(source).isEqualTo(c.get("output").asText());
    } else if (c.has("message")) {
      assertThatThrownBy(() -> JinjaTemplate.compile(source).render(context, TestModels.FIXED))
          .isInstanceOf(TemplateRaisedException.class)
          .extracting(e -> ((TemplateRaisedException) e).templateMessage())
          .isEqualTo(c.get("message").asText());
    } else {
      // jinja2 refuses it (when compiling or rendering); so must this engine, with its own
      // TemplateException rather than anything that would stop a service.
      assertThatThrownBy(() -> JinjaTemplate.compile(source).render(context, TestModels.FIXED))
          .as(source + " (jinja2: " + c.get("error").asText() + ")")
          .isInstanceOf(TemplateException.class);
    }
  }
}
