package io.continualsft.chat.template;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Python value semantics for template values, so output matches jinja2 byte for byte: {@code
 * str()} and {@code repr()} ({@code None}, {@code True}, {@code 1.0}, {@code ['a', 1]}), truth,
 * equality ({@code True == 1}), ordering, and {@code json.dumps} as transformers' {@code tojson}
 * calls it.
 *
 * <p>Values are: null (None), {@link Boolean}, {@link Long}, {@link Double}, {@link String},
 * {@link List} (lists and tuples), {@link Map} (dicts, insertion-ordered), {@link Undefined},
 * {@link Namespace}, and {@link PyCallable}.
 */
final class Py {
  private Py() {}

  /**
   * jinja2's default {@code Undefined}: prints as "", is falsy, iterates as empty; any other use
   * (an attribute of it, arithmetic) fails with {@link #message}.
   */
  static final class Undefined {
    /** What jinja2 would say when the value is used: "'x' is undefined", "... has no attribute". */
    final String message;

    private Undefined(String message) {
      this.message = message;
    }

    /** An undefined variable. */
    static Undefined variable(String name) {
      return new Undefined("'" + name + "' is undefined");
    }

    /** A missing attribute or item of an existing object. */
    static Undefined missing(Object owner, String attribute) {
      return new Undefined("'" + typeName(owner) + " object' has no attribute '" + attribute + "'");
    }

    @Override
    public String toString() {
      return "";
    }
  }

  /** jinja2's {@code namespace(...)}: the one object whose attributes a template may set. */
  /**
   * A tuple: a list to everything that reads it (iteration, indexing, JSON), but printed as
   * Python prints a tuple and never equal to a list.
   */
  static final class Tuple extends ArrayList<Object> {
    Tuple(java.util.Collection<?> items) {
      super(items);
    }
  }

  static final class Namespace {
    final Map<String, Object> attrs = new LinkedHashMap<>();
  }

  /** Anything a template can call: globals, macros, bound methods. */
  @FunctionalInterface
  interface PyCallable {
    Object call(List<Object> args, Map<String, Object> kwargs);
  }

  static boolean isUndefined(Object v) {
    return v instanceof Undefined;
  }

  static boolean truthy(Object v) {
    if (v == null || v instanceof Undefined) {
      return false;
    }
    if (v instanceof Boolean b) {
      return b;
    }
    if (v instanceof Long l) {
      return l != 0;
    }
    if (v instanceof Double d) {
      return d != 0.0;
    }
    if (v instanceof String s) {
      return !s.isEmpty();
    }
    if (v instanceof List<?> l) {
      return !l.isEmpty();
    }
    if (v instanceof Map<?, ?> m) {
      return !m.isEmpty();
    }
    return true;
  }

  static String typeName(Object v) {
    if (v == null) {
      return "NoneType";
    }
    if (v instanceof Undefined) {
      return "Undefined";
    }
    if (v instanceof Boolean) {
      return "bool";
    }
    if (v instanceof Long) {
      return "int";
    }
    if (v instanceof Double) {
      return "float";
    }
    if (v instanceof String) {
      return "str";
    }
    if (v instanceof Tuple) {
      return "tuple";
    }
    if (v instanceof List) {
      return "list";
    }
    if (v instanceof Map) {
      return "dict";
    }
    if (v instanceof Namespace) {
      return "Namespace";
    }
    if (v instanceof PyCallable) {
      return "function";
    }
    return v.getClass().getSimpleName();
  }

  /** Python's {@code str(v)}. */
  static String str(Object v) {
    if (v instanceof String s) {
      return s;
    }
    if (v instanceof Undefined) {
      return "";
    }
    return repr(v);
  }

  /** Python's {@code repr(v)}. */
  static String repr(Object v) {
    if (v == null) {
      return "None";
    }
    if (v instanceof Boolean b) {
      return b ? "True" : "False";
    }
    if (v instanceof Long l) {
      return l.toString();
    }
    if (v instanceof Double d) {
      return floatRepr(d);
    }
    if (v instanceof String s) {
      return stringRepr(s);
    }
    if (v instanceof Undefined) {
      return "";
    }
    if (v instanceof Tuple tuple) {
      StringBuilder sb = new StringBuilder("(");
      for (int i = 0; i < tuple.size(); i++) {
        sb.append(i > 0 ? ", " : "").append(repr(tuple.get(i)));
      }
      return sb.append(tuple.size() == 1 ? ",)" : ")").toString();
    }
    if (v instanceof List<?> list) {
      StringBuilder sb = new StringBuilder("[");
      for (int i = 0; i < list.size(); i++) {
        if (i > 0) {
          sb.append(", ");
        }
        sb.append(repr(list.get(i)));
      }
      return sb.append(']').toString();
    }
    if (v instanceof Map<?, ?> map) {
      StringBuilder sb = new StringBuilder("{");
      boolean first = true;
      for (Map.Entry<?, ?> e : map.entrySet()) {
        if (!first) {
          sb.append(", ");
        }
        first = false;
        sb.append(repr(e.getKey())).append(": ").append(repr(e.getValue()));
      }
      return sb.append('}').toString();
    }
    if (v instanceof Namespace ns) {
      return "<Namespace " + repr(ns.attrs) + ">";
    }
    if (v instanceof PyCallable) {
      return "<function>";
    }
    return v.toString();
  }

  /** Python's float repr: shortest round-trip digits; scientific below 1e-4 and from 1e16. */
  static String floatRepr(double d) {
    if (Double.isNaN(d)) {
      return "nan";
    }
    if (Double.isInfinite(d)) {
      return d > 0 ? "inf" : "-inf";
    }
    if (d == 0) {
      return (1 / d < 0) ? "-0.0" : "0.0";
    }
    // Java's Double.toString gives the shortest digits that round-trip (JDK 19+), as Python does.
    BigDecimal exact = new BigDecimal(Double.toString(d)).stripTrailingZeros();
    String digits = exact.unscaledValue().abs().toString();
    int exponent = digits.length() - 1 - exact.scale(); // decimal exponent of the first digit
    String sign = d < 0 ? "-" : "";
    if (exponent < -4 || exponent >= 16) {
      String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
      return sign + mantissa + "e" + (exponent < 0 ? "-" : "+")
          + String.format("%02d", Math.abs(exponent));
    }
    String plain = exact.abs().toPlainString();
    if (!plain.contains(".")) {
      plain += ".0";
    }
    return sign + plain;
  }

  static String stringRepr(String s) {
    char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
    StringBuilder sb = new StringBuilder().append(quote);
    s.codePoints().forEach(cp -> {
      switch (cp) {
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (cp == quote) {
            sb.append('\\').appendCodePoint(cp);
          } else if (isPrintable(cp)) {
            sb.appendCodePoint(cp);
          } else if (cp < 0x100) {
            sb.append(String.format("\\x%02x", cp));
          } else if (cp < 0x10000) {
            sb.append(String.format("\\u%04x", cp));
          } else {
            sb.append(String.format("\\U%08x", cp));
          }
        }
      }
    });
    return sb.append(quote).toString();
  }

  /** Python's str.isprintable for one code point. */
  private static boolean isPrintable(int cp) {
    if (cp == ' ') {
      return true;
    }
    int type = Character.getType(cp);
    return switch (type) {
      case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE,
          Character.UNASSIGNED, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR,
          Character.SPACE_SEPARATOR -> false;
      default -> true;
    };
  }

  // --- equality and ordering -------------------------------------------------------------------

  static boolean isNumber(Object v) {
    return v instanceof Long || v instanceof Double || v instanceof Boolean;
  }

  static double toDouble(Object v) {
    if (v instanceof Boolean b) {
      return b ? 1 : 0;
    }
    return ((Number) v).doubleValue();
  }

  static long toLong(Object v) {
    if (v instanceof Boolean b) {
      return b ? 1 : 0;
    }
    return ((Number) v).longValue();
  }

  static boolean isIntegral(Object v) {
    return v instanceof Long || v instanceof Boolean;
  }

  static boolean eq(Object a, Object b) {
    if (a instanceof Undefined || b instanceof Undefined) {
      return a instanceof Undefined && b instanceof Undefined;
    }
    if (isNumber(a) && isNumber(b)) {
      if (isIntegral(a) && isIntegral(b)) {
        return toLong(a) == toLong(b);
      }
      return toDouble(a) == toDouble(b);
    }
    if (a instanceof List<?> la && b instanceof List<?> lb) {
      if (la.size() != lb.size() || (a instanceof Tuple) != (b instanceof Tuple)) {
        return false;
      }
      for (int i = 0; i < la.size(); i++) {
        if (!eq(la.get(i), lb.get(i))) {
          return false;
        }
      }
      return true;
    }
    if (a instanceof Map<?, ?> ma && b instanceof Map<?, ?> mb) {
      if (ma.size() != mb.size()) {
        return false;
      }
      for (Map.Entry<?, ?> e : ma.entrySet()) {
        if (!mb.containsKey(e.getKey()) || !eq(e.getValue(), mb.get(e.getKey()))) {
          return false;
        }
      }
      return true;
    }
    return Objects.equals(a, b);
  }

  static int compare(Object a, Object b, int line) {
    if (isNumber(a) && isNumber(b)) {
      if (isIntegral(a) && isIntegral(b)) {
        return Long.compare(toLong(a), toLong(b));
      }
      return Double.compare(toDouble(a), toDouble(b));
    }
    if (a instanceof String sa && b instanceof String sb) {
      return compareCodePoints(sa, sb);
    }
    if (a instanceof List<?> la && b instanceof List<?> lb) {
      for (int i = 0; i < Math.min(la.size(), lb.size()); i++) {
        if (!eq(la.get(i), lb.get(i))) {
          return compare(la.get(i), lb.get(i), line);
        }
      }
      return Integer.compare(la.size(), lb.size());
    }
    throw new TemplateException("'<' not supported between instances of '" + typeName(a)
        + "' and '" + typeName(b) + "' (template line " + line + ")");
  }

  /** Python orders strings by code point; Java's compareTo by UTF-16 unit. */
  static int compareCodePoints(String a, String b) {
    Iterator<Integer> ia = a.codePoints().iterator();
    Iterator<Integer> ib = b.codePoints().iterator();
    while (ia.hasNext() && ib.hasNext()) {
      int c = Integer.compare(ia.next(), ib.next());
      if (c != 0) {
        return c;
      }
    }
    return Boolean.compare(ia.hasNext(), ib.hasNext());
  }

  /** Python's {@code len}. */
  static long len(Object v, int line) {
    if (v instanceof String s) {
      return s.codePointCount(0, s.length());
    }
    if (v instanceof List<?> l) {
      return l.size();
    }
    if (v instanceof Map<?, ?> m) {
      return m.size();
    }
    if (v instanceof Undefined) {
      return 0;
    }
    throw new TemplateException("object of type '" + typeName(v) + "' has no len()"
        + " (template line " + line + ")");
  }

  /** What a for loop iterates: list items, dict keys, string characters; undefined is empty. */
  static List<Object> iterate(Object v, int line) {
    if (v instanceof List<?> l) {
      return new ArrayList<>(l);
    }
    if (v instanceof Map<?, ?> m) {
      return new ArrayList<>(m.keySet());
    }
    if (v instanceof String s) {
      List<Object> chars = new ArrayList<>();
      s.codePoints().forEach(cp -> chars.add(new String(Character.toChars(cp))));
      return chars;
    }
    if (v instanceof Undefined) {
      return List.of();
    }
    throw new TemplateException("'" + typeName(v) + "' object is not iterable (template line "
        + line + ")");
  }

  // --- JSON, as Python's json.dumps ------------------------------------------------------------

  /** Positional argument {@code index}, else keyword {@code name}, else {@code fallback}. */
  static Object arg(List<Object> args, Map<String, Object> kw, int index, String name,
      Object fallback) {
    if (index < args.size()) {
      return args.get(index);
    }
    return kw.containsKey(name) ? kw.get(name) : fallback;
  }
}
