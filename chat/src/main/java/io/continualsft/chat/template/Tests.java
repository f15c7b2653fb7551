package io.continualsft.chat.template;

import io.continualsft.chat.template.Py.Namespace;
import io.continualsft.chat.template.Py.PyCallable;
import io.continualsft.chat.template.Py.Undefined;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** jinja2's tests ({@code x is defined}, {@code x is divisibleby(3)}, ...). */
final class Tests {
  private Tests() {}

  static boolean test(String name, Object v, List<Object> args, int line) {
    return switch (name) {
      case "defined" -> !(v instanceof Undefined);
      case "undefined" -> v instanceof Undefined;
      case "none" -> v == null;
      case "boolean" -> v instanceof Boolean;
      case "true" -> Boolean.TRUE.equals(v);
      case "false" -> Boolean.FALSE.equals(v);
      case "integer" -> v instanceof Long;
      case "float" -> v instanceof Double;
      case "number" -> Py.isNumber(v);
      case "string" -> v instanceof String;
      case "mapping" -> v instanceof Map || v instanceof Namespace;
      case "iterable" -> v instanceof List || v instanceof Map || v instanceof String
          || v instanceof Undefined;
      case "sequence" -> v instanceof List || v instanceof Map || v instanceof String;
      case "callable" -> v instanceof PyCallable;
      case "odd" -> Py.toLong(v) % 2 != 0;
      case "even" -> Py.toLong(v) % 2 == 0;
      case "divisibleby" -> Py.toLong(v) % Py.toLong(args.get(0)) == 0;
      case "eq", "equalto", "==" -> Py.eq(v, args.get(0));
      case "ne", "!=" -> !Py.eq(v, args.get(0));
      case "lt", "lessthan", "<" -> Py.compare(v, args.get(0), line) < 0;
      case "le", "<=" -> Py.compare(v, args.get(0), line) <= 0;
      case "gt", "greaterthan", ">" -> Py.compare(v, args.get(0), line) > 0;
      case "ge", ">=" -> Py.compare(v, args.get(0), line) >= 0;
      case "in" -> Operators.contains(args.get(0), v, line);
      case "sameas" -> v == args.get(0) || (v == null && args.get(0) == null)
          || (v instanceof Boolean && v.equals(args.get(0)));
      case "lower" -> v instanceof String s && s.equals(s.toLowerCase(Locale.ROOT));
      case "upper" -> v instanceof String s && s.equals(s.toUpperCase(Locale.ROOT));
      default -> throw new TemplateException("no test named '" + name + "' (template line "
          + line + ")");
    };
  }
}
