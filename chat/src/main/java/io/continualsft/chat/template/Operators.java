package io.continualsft.chat.template;

import io.continualsft.chat.template.Py.Namespace;
import io.continualsft.chat.template.Py.Undefined;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Python's unary minus, {@code in}, and arithmetic on template values, errors included. */
final class Operators {
  private Operators() {}

  static Object negate(Object v) {
    if (v instanceof Long l) {
      return -l;
    }
    if (v instanceof Double d) {
      return -d;
    }
    if (v instanceof Boolean b) {
      return b ? -1L : 0L;
    }
    if (v instanceof Undefined u) {
      throw new TemplateException(u.message);
    }
    throw new TemplateException("bad operand type for unary -: '" + Py.typeName(v) + "'");
  }

  static boolean contains(Object container, Object item, int line) {
    if (container instanceof String s) {
      if (!(item instanceof String sub)) {
        throw new TemplateException("'in <string>' requires string as left operand, not "
            + Py.typeName(item) + " (template line " + line + ")");
      }
      return s.contains(sub);
    }
    if (container instanceof List<?> l) {
      return l.stream().anyMatch(x -> Py.eq(x, item));
    }
    if (container instanceof Map<?, ?> m) {
      return m.containsKey(item);
    }
    if (container instanceof Namespace ns) {
      return ns.attrs.containsKey(item);
    }
    if (container instanceof Undefined) {
      return false;
    }
    throw new TemplateException("argument of type '" + Py.typeName(container)
        + "' is not iterable (template line " + line + ")");
  }

  static Object arithmetic(String op, Object a, Object b, int line) {
    if (a instanceof Undefined u) {
      throw new TemplateException(u.message + " (template line " + line + ")");
    }
    if (b instanceof Undefined u) {
      throw new TemplateException(u.message + " (template line " + line + ")");
    }
    if (Py.isNumber(a) && Py.isNumber(b)) {
      boolean ints = Py.isIntegral(a) && Py.isIntegral(b);
      switch (op) {
        case "+":
          return ints ? (Object) exact(() -> Math.addExact(Py.toLong(a), Py.toLong(b)), line)
              : Py.toDouble(a) + Py.toDouble(b);
        case "-":
          return ints ? (Object) exact(() -> Math.subtractExact(Py.toLong(a), Py.toLong(b)), line)
              : Py.toDouble(a) - Py.toDouble(b);
        case "*":
          return ints ? (Object) exact(() -> Math.multiplyExact(Py.toLong(a), Py.toLong(b)), line)
              : Py.toDouble(a) * Py.toDouble(b);
        case "/":
          if (Py.toDouble(b) == 0) {
            throw new TemplateException("division by zero (template line " + line + ")");
          }
          return Py.toDouble(a) / Py.toDouble(b);
        case "//":
          if (Py.toDouble(b) == 0) {
            throw new TemplateException("integer division or modulo by zero (template line " + line + ")");
          }
          return ints ? (Object) Math.floorDiv(Py.toLong(a), Py.toLong(b))
              : Math.floor(Py.toDouble(a) / Py.toDouble(b));
        case "%":
          if (Py.toDouble(b) == 0) {
            throw new TemplateException("integer division or modulo by zero (template line " + line + ")");
          }
          if (ints) {
            return Math.floorMod(Py.toLong(a), Py.toLong(b));
          }
          double x = Py.toDouble(a);
          double y = Py.toDouble(b);
          double m = x % y;
          return (m != 0 && (m < 0) != (y < 0)) ? m + y : m;
        case "**":
          if (ints && Py.toLong(b) >= 0) {
            return exact(() -> power(Py.toLong(a), Py.toLong(b)), line);
          }
          return Math.pow(Py.toDouble(a), Py.toDouble(b));
        default:
          break;
      }
    }
    if (op.equals("+") && a instanceof String sa && b instanceof String sb) {
      return sa + sb;
    }
    if (op.equals("+") && a instanceof List<?> la && b instanceof List<?> lb
        && (a instanceof Py.Tuple) == (b instanceof Py.Tuple)) {
      List<Object> out = new ArrayList<>(la);
      out.addAll(lb);
      return a instanceof Py.Tuple ? new Py.Tuple(out) : out;
    }
    if (op.equals("*") && a instanceof String s && Py.isIntegral(b)) {
      long times = Math.max(0, Py.toLong(b));
      if (times > 0 && s.length() > RenderBudget.MAX_OUTPUT_CHARS / times) {
        throw new TemplateException("the string repetition would be " + s.length() + " x " + times
            + " characters, over the render budget of " + RenderBudget.MAX_OUTPUT_CHARS
            + " (template line " + line + ")");
      }
      return s.repeat((int) times);
    }
    if (op.equals("*") && a instanceof List<?> l && Py.isIntegral(b)) {
      long times = Math.max(0, Py.toLong(b));
      if (times > 0 && l.size() > Globals.MAX_RANGE / times) {
        throw new TemplateException("the list repetition would have " + l.size() + " x " + times
            + " items, over the sandbox's " + Globals.MAX_RANGE + " (template line " + line + ")");
      }
      List<Object> out = new ArrayList<>();
      for (long i = 0; i < Py.toLong(b); i++) {
        out.addAll(l);
      }
      return out;
    }
    if (op.equals("%") && a instanceof String format) {
      return PercentFormat.format(format, b instanceof List<?> l ? l : List.of(b), line);
    }
    throw new TemplateException("unsupported operand type(s) for " + op + ": '"
        + Py.typeName(a) + "' and '" + Py.typeName(b) + "' (template line " + line + ")");
  }

  /** {@code base ** exponent} by squaring, failing on overflow instead of wrapping around. */
  private static long power(long base, long exponent) {
    long result = 1;
    long b = base;
    for (long e = exponent; e > 0; e >>= 1) {
      if ((e & 1) == 1) {
        result = Math.multiplyExact(result, b);
      }
      if (e > 1) {
        b = Math.multiplyExact(b, b);
      }
    }
    return result;
  }

  /**
   * Python's integers have no bound; this engine's are 64-bit. A result that does not fit is
   * refused rather than silently wrapped (and a huge power refused rather than computed).
   */
  private static long exact(java.util.function.LongSupplier op, int line) {
    try {
      return op.getAsLong();
    } catch (ArithmeticException e) {
      throw new TemplateException("integer result out of this engine's 64-bit range (template line "
          + line + ")");
    }
  }
}
