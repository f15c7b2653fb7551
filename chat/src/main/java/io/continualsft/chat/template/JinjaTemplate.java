package io.continualsft.chat.template;

import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A compiled Jinja template rendered with the semantics transformers gives chat templates:
 * jinja2's {@code ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)} with the
 * {@code loopcontrols} extension, its own {@code tojson} ({@code ensure_ascii=False}, Python's
 * spacing), and the globals {@code raise_exception} and {@code strftime_now}.
 *
 * <p>Written here rather than taken from a library: Jinjava, the maintained Java Jinja engine,
 * cannot parse slices with a step ({@code messages[::-1]}, used by Qwen3), mis-parses {@code
 * namespace(x=messages|length - 1)}, prints Java's {@code true}/{@code null} instead of Python's
 * {@code True}/{@code None}, and collects errors instead of raising them; fixing that means forking
 * its parser. The JavaScript and C++ runtimes made the same choice for the same reason
 * (transformers.js's {@code @huggingface/jinja}, llama.cpp's {@code minja}). This engine covers the
 * subset chat templates use; anything else is a {@link TemplateSyntaxException} naming it, never a
 * silent difference.
 *
 * <p>Thread-safe: the parsed template is immutable and every render has its own state.
 */
public final class JinjaTemplate {
  private final List<Ast.Node> ast;

  private JinjaTemplate(List<Ast.Node> ast) {
    this.ast = ast;
  }

  /** Parses {@code source}; a syntax error names the line. */
  public static JinjaTemplate compile(String source) {
    return new JinjaTemplate(Parser.parse(Objects.requireNonNull(source, "source")));
  }

  public String render(Map<String, ?> variables) {
    return render(variables, Clock.systemDefaultZone());
  }

  /**
   * Renders with {@code variables} (Java strings, numbers, booleans, null, lists and maps).
   *
   * @throws TemplateRaisedException when the template calls raise_exception
   * @throws TemplateException on any other template error (an undefined attribute used, a type
   *     error), with jinja2's message, on a render over its {@link RenderBudget}, and on any
   *     other failure inside the engine
   */
  public String render(Map<String, ?> variables, Clock clock) {
    try {
      @SuppressWarnings("unchecked")
      Map<String, Object> vars = (Map<String, Object>) toTemplateValue(variables);
      return new Interpreter().render(ast, Globals.of(clock), vars);
    } catch (TemplateException e) {
      throw e;
    } catch (StackOverflowError e) {
      throw new TemplateException("the render nested too deeply (a stack overflow): deeply nested"
          + " data or unbounded recursion");
    } catch (RuntimeException e) {
      // A bug of this engine's on some input must not stop the service that renders: it is the
      // template failing on this record, reported with what went wrong.
      throw new TemplateException("the template engine failed: " + e, e);
    }
  }

  /** Java values to the template's value model: integers as Long, floats as Double. */
  /**
   * {@code value} (Java strings, numbers, booleans, null, lists and maps) as a template's {@code
   * tojson} filter prints it: {@code json.dumps(value, ensure_ascii=False)}.
   */
  public static String toJson(Object value) {
    return PyJson.dumps(toTemplateValue(value), null, false, 0);
  }

  static Object toTemplateValue(Object v) {
    if (v instanceof Integer || v instanceof Short || v instanceof Byte) {
      return ((Number) v).longValue();
    }
    if (v instanceof Float f) {
      return f.doubleValue();
    }
    if (v instanceof List<?> list) {
      List<Object> out = new ArrayList<>(list.size());
      for (Object item : list) {
        out.add(toTemplateValue(item));
      }
      return out;
    }
    if (v instanceof Map<?, ?> map) {
      Map<Object, Object> out = new LinkedHashMap<>();
      map.forEach((k, val) -> out.put(k, toTemplateValue(val)));
      return out;
    }
    return v;
  }
}
