package io.continualsft.chat.template;

import io.continualsft.chat.template.Py.Namespace;
import io.continualsft.chat.template.Py.PyCallable;
import io.continualsft.chat.template.Py.Undefined;
import java.time.Clock;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * jinja2's filters and tests, Python's str/dict/list methods, and the globals transformers adds
 * ({@code raise_exception}, {@code strftime_now}), each written to behave as the Python original
 * on the values chat templates see.
 */
final class Builtins {
  /** jinja2's sandbox refuses larger ranges; so do we. */
  static final int MAX_RANGE = 100_000;

  private static final Set<String> UNSAFE_LIST_METHODS =
      Set.of("append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse");
  private static final Set<String> UNSAFE_DICT_METHODS =
      Set.of("update", "pop", "popitem", "setdefault", "clear");

  private final Clock clock;

  Builtins(Clock clock) {
    this.clock = clock;
  }

  Map<String, Object> globals() {
    Map<String, Object> g = new LinkedHashMap<>();
    g.put("raise_exception", (PyCallable) (args, kw) -> {
      throw new TemplateRaisedException(args.isEmpty() ? "" : Py.str(args.get(0)));
    });
    g.put("strftime_now", (PyCallable) (args, kw) ->
        Strftime.format(Py.str(arg(args, kw, 0, "format", "")), ZonedDateTime.now(clock)));
    g.put("range", (PyCallable) (args, kw) -> range(args));
    g.put("namespace", (PyCallable) (args, kw) -> {
      Namespace ns = new Namespace();
      if (!args.isEmpty() && args.get(0) instanceof Map<?, ?> init) {
        init.forEach((k, v) -> ns.attrs.put(Py.str(k), v));
      }
      ns.attrs.putAll(kw);
      return ns;
    });
    g.put("dict", (PyCallable) (args, kw) -> {
      Map<Object, Object> d = new LinkedHashMap<>();
      if (!args.isEmpty() && args.get(0) instanceof Map<?, ?> init) {
        d.putAll(init);
      }
      d.putAll(kw);
      return d;
    });
    return g;
  }

  private static List<Object> range(List<Object> args) {
    long start = 0;
    long stop;
    long step = 1;
    if (args.size() == 1) {
      stop = Py.toLong(args.get(0));
    } else {
      start = Py.toLong(args.get(0));
      stop = Py.toLong(args.get(1));
      if (args.size() > 2) {
        step = Py.toLong(args.get(2));
      }
    }
    if (step == 0) {
      throw new TemplateException("range() arg 3 must not be zero");
    }
    List<Object> out = new ArrayList<>();
    for (long i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (out.size() >= MAX_RANGE) {
        throw new TemplateException("Range too big. The sandbox blocks ranges larger than "
            + MAX_RANGE + ".");
      }
      out.add(i);
    }
    return out;
  }

  // --- attribute and item access ---------------------------------------------------------------

  Object getAttr(Object target, String name, int line) {
    if (target instanceof Undefined u) {
      throw new TemplateException(u.message + " (template line " + line + ")");
    }
    if (target instanceof Map<?, ?> map) {
      PyCallable method = dictMethod(map, name, line);
      if (method != null) {
        return method;
      }
      return map.containsKey(name) ? map.get(name) : Undefined.missing(target, name);
    }
    if (target instanceof Namespace ns) {
      return ns.attrs.containsKey(name) ? ns.attrs.get(name) : Undefined.missing(target, name);
    }
    if (target instanceof String s) {
      PyCallable method = StringMethods.bind(s, name, line);
      return method != null ? method : Undefined.missing(target, name);
    }
    if (target instanceof List<?> list) {
      PyCallable method = listMethod(list, name, line);
      return method != null ? method : Undefined.missing(target, name);
    }
    return Undefined.missing(target, name);
  }

  Object getItem(Object target, Object key, int line) {
    if (target instanceof Undefined u) {
      throw new TemplateException(u.message + " (template line " + line + ")");
    }
    if (target instanceof Map<?, ?> map) {
      if (map.containsKey(key)) {
        return map.get(key);
      }
      return key instanceof String s ? getAttr(target, s, line) : Undefined.missing(target, Py.str(key));
    }
    if (target instanceof Namespace ns && key instanceof String s) {
      return getAttr(ns, s, line);
    }
    if ((target instanceof List<?> || target instanceof String) && Py.isIntegral(key)) {
      List<?> items = target instanceof List<?> l ? l : Py.iterate(target, line);
      long i = Py.toLong(key);
      if (i < 0) {
        i += items.size();
      }
      return i >= 0 && i < items.size() ? items.get((int) i) : Undefined.missing(target, Py.str(key));
    }
    if (key instanceof String s) {
      return getAttr(target, s, line);
    }
    return Undefined.missing(target, Py.str(key));
  }

  /** Python slicing, negative indices and steps included, for lists and strings. */
  Object slice(Object target, Object start, Object stop, Object step) {
    boolean isString = target instanceof String;
    List<Object> items = isString || target instanceof List<?> ? Py.iterate(target, 0) : null;
    if (items == null) {
      if (target instanceof Undefined) {
        return target;
      }
      throw new TemplateException("'" + Py.typeName(target) + "' object is not subscriptable");
    }
    int n = items.size();
    long st = step == null ? 1 : Py.toLong(step);
    if (st == 0) {
      throw new TemplateException("slice step cannot be zero");
    }
    long lo;
    long hi;
    if (st > 0) {
      lo = start == null ? 0 : clampIndex(Py.toLong(start), n, 0, n);
      hi = stop == null ? n : clampIndex(Py.toLong(stop), n, 0, n);
    } else {
      lo = start == null ? n - 1 : clampIndex(Py.toLong(start), n, -1, n - 1);
      hi = stop == null ? -1 : clampIndex(Py.toLong(stop), n, -1, n - 1);
    }
    List<Object> out = new ArrayList<>();
    for (long i = lo; st > 0 ? i < hi : i > hi; i += st) {
      out.add(items.get((int) i));
    }
    if (isString) {
      StringBuilder sb = new StringBuilder();
      out.forEach(c -> sb.append((String) c));
      return sb.toString();
    }
    return out;
  }

  private static long clampIndex(long i, int n, long min, long max) {
    if (i < 0) {
      i += n;
    }
    return Math.max(min, Math.min(max, i));
  }

  private static PyCallable dictMethod(Map<?, ?> map, String name, int line) {
    if (UNSAFE_DICT_METHODS.contains(name)) {
      return (a, k) -> {
        throw new TemplateException("access to attribute '" + name
            + "' of 'dict' object is unsafe (template line " + line + ")");
      };
    }
    return switch (name) {
      case "items" -> (a, k) -> items(map);
      case "keys" -> (a, k) -> new ArrayList<Object>(map.keySet());
      case "values" -> (a, k) -> new ArrayList<Object>(map.values());
      case "get" -> (a, k) -> {
        Object key = arg(a, k, 0, "key", null);
        return map.containsKey(key) ? map.get(key) : arg(a, k, 1, "default", null);
      };
      default -> null;
    };
  }

  private static PyCallable listMethod(List<?> list, String name, int line) {
    if (UNSAFE_LIST_METHODS.contains(name)) {
      return (a, k) -> {
        throw new TemplateException("access to attribute '" + name
            + "' of 'list' object is unsafe (template line " + line + ")");
      };
    }
    return switch (name) {
      case "index" -> (a, k) -> {
        for (int i = 0; i < list.size(); i++) {
          if (Py.eq(list.get(i), a.get(0))) {
            return (long) i;
          }
        }
        throw new TemplateException(Py.repr(a.get(0)) + " is not in list (template line " + line + ")");
      };
      case "count" -> (a, k) -> list.stream().filter(x -> Py.eq(x, a.get(0))).count();
      default -> null;
    };
  }

  private static List<Object> items(Map<?, ?> map) {
    List<Object> out = new ArrayList<>();
    map.forEach((k, v) -> out.add(pair(k, v)));
    return out;
  }

  private static List<Object> pair(Object a, Object b) {
    List<Object> p = new ArrayList<>(2);
    p.add(a);
    p.add(b);
    return p;
  }

  // --- operators --------------------------------------------------------------------------

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
          return ints ? (Object) (Py.toLong(a) + Py.toLong(b)) : Py.toDouble(a) + Py.toDouble(b);
        case "-":
          return ints ? (Object) (Py.toLong(a) - Py.toLong(b)) : Py.toDouble(a) - Py.toDouble(b);
        case "*":
          return ints ? (Object) (Py.toLong(a) * Py.toLong(b)) : Py.toDouble(a) * Py.toDouble(b);
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
            long result = 1;
            for (long i = 0; i < Py.toLong(b); i++) {
              result *= Py.toLong(a);
            }
            return result;
          }
          return Math.pow(Py.toDouble(a), Py.toDouble(b));
        default:
          break;
      }
    }
    if (op.equals("+") && a instanceof String sa && b instanceof String sb) {
      return sa + sb;
    }
    if (op.equals("+") && a instanceof List<?> la && b instanceof List<?> lb) {
      List<Object> out = new ArrayList<>(la);
      out.addAll(lb);
      return out;
    }
    if (op.equals("*") && a instanceof String s && Py.isIntegral(b)) {
      return s.repeat((int) Math.max(0, Py.toLong(b)));
    }
    if (op.equals("*") && a instanceof List<?> l && Py.isIntegral(b)) {
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

  // --- filters ----------------------------------------------------------------------------

  Object filter(String name, Object v, List<Object> args, Map<String, Object> kw, int line) {
    switch (name) {
      case "tojson": {
        Object indent = arg(args, kw, 0, "indent", null);
        boolean sortKeys = Py.truthy(arg(args, kw, 99, "sort_keys", false));
        String json = Py.toJson(v, indent == null ? null : (int) Py.toLong(indent), sortKeys, line);
        return Py.truthy(arg(args, kw, 99, "ensure_ascii", false)) ? asciiEscape(json) : json;
      }
      case "length":
      case "count":
        return Py.len(v, line);
      case "string":
        return Py.str(v);
      case "safe":
        return v;
      case "e":
      case "escape":
        return htmlEscape(Py.str(v));
      case "upper":
        return Py.str(v).toUpperCase(Locale.ROOT);
      case "lower":
        return Py.str(v).toLowerCase(Locale.ROOT);
      case "title":
        return StringMethods.title(Py.str(v));
      case "capitalize":
        return StringMethods.capitalize(Py.str(v));
      case "trim": {
        Object chars = arg(args, kw, 0, "chars", null);
        return StringMethods.strip(Py.str(v), chars == null ? null : Py.str(chars), true, true);
      }
      case "replace": {
        Object count = arg(args, kw, 2, "count", null);
        return StringMethods.replace(Py.str(v), Py.str(args.get(0)), Py.str(args.get(1)),
            count == null ? -1 : Py.toLong(count));
      }
      case "default":
      case "d": {
        Object fallback = arg(args, kw, 0, "default_value", "");
        boolean bool = Py.truthy(arg(args, kw, 1, "boolean", false));
        return (v instanceof Undefined || (bool && !Py.truthy(v))) ? fallback : v;
      }
      case "first": {
        List<Object> l = Py.iterate(v, line);
        return l.isEmpty() ? Undefined.variable("first") : l.get(0);
      }
      case "last": {
        List<Object> l = Py.iterate(v, line);
        return l.isEmpty() ? Undefined.variable("last") : l.get(l.size() - 1);
      }
      case "list":
        return Py.iterate(v, line);
      case "join": {
        String sep = Py.str(arg(args, kw, 0, "d", ""));
        Object attribute = arg(args, kw, 1, "attribute", null);
        StringBuilder sb = new StringBuilder();
        List<Object> items = Py.iterate(v, line);
        for (int i = 0; i < items.size(); i++) {
          if (i > 0) {
            sb.append(sep);
          }
          Object item = attribute == null ? items.get(i) : attribute(items.get(i), attribute, line);
          sb.append(Py.str(item));
        }
        return sb.toString();
      }
      case "reverse":
        if (v instanceof String s) {
          return new StringBuilder(s).reverse().toString();
        }
        List<Object> reversed = Py.iterate(v, line);
        java.util.Collections.reverse(reversed);
        return reversed;
      case "items":
        if (v instanceof Undefined) {
          return List.of();
        }
        if (!(v instanceof Map<?, ?> map)) {
          throw new TemplateException("items filter needs a dict, got " + Py.typeName(v));
        }
        return items(map);
      case "dictsort": {
        if (!(v instanceof Map<?, ?> map)) {
          throw new TemplateException("dictsort needs a dict, got " + Py.typeName(v));
        }
        boolean caseSensitive = Py.truthy(arg(args, kw, 0, "case_sensitive", false));
        boolean byValue = "value".equals(arg(args, kw, 1, "by", "key"));
        boolean reverse = Py.truthy(arg(args, kw, 2, "reverse", false));
        List<Object> pairs = items(map);
        pairs.sort((a, b) -> {
          Object x = ((List<?>) a).get(byValue ? 1 : 0);
          Object y = ((List<?>) b).get(byValue ? 1 : 0);
          return Py.compare(sortKey(x, caseSensitive), sortKey(y, caseSensitive), line);
        });
        if (reverse) {
          java.util.Collections.reverse(pairs);
        }
        return pairs;
      }
      case "sort": {
        boolean reverse = Py.truthy(arg(args, kw, 0, "reverse", false));
        boolean caseSensitive = Py.truthy(arg(args, kw, 1, "case_sensitive", false));
        Object attribute = arg(args, kw, 2, "attribute", null);
        List<Object> items = Py.iterate(v, line);
        Comparator<Object> cmp = (a, b) -> Py.compare(
            sortKey(attribute == null ? a : attribute(a, attribute, line), caseSensitive),
            sortKey(attribute == null ? b : attribute(b, attribute, line), caseSensitive), line);
        items.sort(reverse ? cmp.reversed() : cmp);
        return items;
      }
      case "unique": {
        boolean caseSensitive = Py.truthy(arg(args, kw, 0, "case_sensitive", false));
        Object attribute = arg(args, kw, 1, "attribute", null);
        List<Object> out = new ArrayList<>();
        List<Object> seen = new ArrayList<>();
        for (Object item : Py.iterate(v, line)) {
          Object key = sortKey(attribute == null ? item : attribute(item, attribute, line),
              caseSensitive);
          if (seen.stream().noneMatch(s -> Py.eq(s, key))) {
            seen.add(key);
            out.add(item);
          }
        }
        return out;
      }
      case "selectattr":
      case "rejectattr": {
        boolean select = name.equals("selectattr");
        Object attribute = args.get(0);
        List<Object> out = new ArrayList<>();
        for (Object item : Py.iterate(v, line)) {
          Object value = attribute(item, attribute, line);
          boolean ok = args.size() > 1
              ? test(Py.str(args.get(1)), value, args.subList(2, args.size()), line)
              : Py.truthy(value);
          if (ok == select) {
            out.add(item);
          }
        }
        return out;
      }
      case "select":
      case "reject": {
        boolean select = name.equals("select");
        List<Object> out = new ArrayList<>();
        for (Object item : Py.iterate(v, line)) {
          boolean ok = args.isEmpty() ? Py.truthy(item)
              : test(Py.str(args.get(0)), item, args.subList(1, args.size()), line);
          if (ok == select) {
            out.add(item);
          }
        }
        return out;
      }
      case "map": {
        List<Object> out = new ArrayList<>();
        if (kw.containsKey("attribute")) {
          Object def = kw.get("default");
          for (Object item : Py.iterate(v, line)) {
            Object value = attribute(item, kw.get("attribute"), line);
            out.add(value instanceof Undefined && def != null ? def : value);
          }
        } else {
          String filter = Py.str(args.get(0));
          for (Object item : Py.iterate(v, line)) {
            out.add(filter(filter, item, args.subList(1, args.size()), Map.of(), line));
          }
        }
        return out;
      }
      case "abs":
        return v instanceof Double d ? (Object) Math.abs(d) : (Object) Math.abs(Py.toLong(v));
      case "int": {
        Object def = arg(args, kw, 0, "default", 0L);
        if (v instanceof Long || v instanceof Boolean) {
          return Py.toLong(v);
        }
        if (v instanceof Double d) {
          return (long) d.doubleValue();
        }
        try {
          return Long.parseLong(Py.str(v).strip());
        } catch (NumberFormatException e) {
          try {
            return (long) Double.parseDouble(Py.str(v).strip());
          } catch (NumberFormatException e2) {
            return def;
          }
        }
      }
      case "float": {
        Object def = arg(args, kw, 0, "default", 0.0);
        if (Py.isNumber(v)) {
          return Py.toDouble(v);
        }
        try {
          return Double.parseDouble(Py.str(v).strip());
        } catch (NumberFormatException e) {
          return def;
        }
      }
      case "round": {
        long precision = Py.toLong(arg(args, kw, 0, "precision", 0L));
        String method = Py.str(arg(args, kw, 1, "method", "common"));
        double scale = Math.pow(10, precision);
        double x = Py.toDouble(v) * scale;
        double r = switch (method) {
          case "ceil" -> Math.ceil(x);
          case "floor" -> Math.floor(x);
          default -> Math.signum(x) * Math.floor(Math.abs(x) + 0.5);
        };
        return r / scale;
      }
      case "max":
      case "min": {
        List<Object> items = Py.iterate(v, line);
        if (items.isEmpty()) {
          return Undefined.variable(name);
        }
        Object best = items.get(0);
        for (Object item : items) {
          int c = Py.compare(item, best, line);
          if (name.equals("max") ? c > 0 : c < 0) {
            best = item;
          }
        }
        return best;
      }
      case "sum": {
        Object attribute = arg(args, kw, 0, "attribute", null);
        Object total = arg(args, kw, 1, "start", 0L);
        for (Object item : Py.iterate(v, line)) {
          total = arithmetic("+", total, attribute == null ? item : attribute(item, attribute, line),
              line);
        }
        return total;
      }
      case "indent":
        return indent(Py.str(v), arg(args, kw, 0, "width", 4L),
            Py.truthy(arg(args, kw, 1, "first", false)), Py.truthy(arg(args, kw, 2, "blank", false)));
      case "wordcount":
        return (long) StringMethods.split(Py.str(v), null, -1).size();
      case "center": {
        String s = Py.str(v);
        int width = (int) Py.toLong(arg(args, kw, 0, "width", 80L));
        int pad = width - s.length();
        if (pad <= 0) {
          return s;
        }
        int left = pad / 2 + (pad & width & 1);
        return " ".repeat(left) + s + " ".repeat(pad - left);
      }
      case "format":
        return PercentFormat.format(Py.str(v), args, line);
      case "attr":
        return getAttr(v, Py.str(args.get(0)), line);
      case "batch":
      case "slice":
      case "truncate":
      case "urlencode":
      case "striptags":
      case "xmlattr":
      case "filesizeformat":
      case "pprint":
      default:
        throw new TemplateException("no filter named '" + name + "' (template line " + line + ")");
    }
  }

  private Object attribute(Object item, Object attribute, int line) {
    Object current = item;
    for (String part : Py.str(attribute).split("\\.")) {
      current = part.matches("-?\\d+") ? getItem(current, Long.parseLong(part), line)
          : getItem(current, part, line);
    }
    return current;
  }

  private static Object sortKey(Object v, boolean caseSensitive) {
    return !caseSensitive && v instanceof String s ? s.toLowerCase(Locale.ROOT) : v;
  }

  private static String indent(String s, Object width, boolean first, boolean blank) {
    String indention = width instanceof String w ? w : " ".repeat((int) Py.toLong(width));
    s += "\n"; // jinja2's own quirk, for splitlines
    List<String> lines = StringMethods.splitlines(s);
    String rv;
    if (blank) {
      rv = String.join("\n" + indention, lines);
    } else {
      rv = lines.remove(0);
      if (!lines.isEmpty()) {
        List<String> rest = new ArrayList<>();
        for (String l : lines) {
          rest.add(l.isEmpty() ? l : indention + l);
        }
        rv += "\n" + String.join("\n", rest);
      }
    }
    return first ? indention + rv : rv;
  }

  private static String htmlEscape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace("\"", "&#34;").replace("'", "&#39;");
  }

  private static String asciiEscape(String json) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < json.length(); i++) {
      char c = json.charAt(i);
      if (c < 0x80) {
        sb.append(c);
      } else {
        sb.append(String.format("\\u%04x", (int) c));
      }
    }
    return sb.toString();
  }

  // --- tests --------------------------------------------------------------------------------

  boolean test(String name, Object v, List<Object> args, int line) {
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
      case "in" -> contains(args.get(0), v, line);
      case "sameas" -> v == args.get(0) || (v == null && args.get(0) == null)
          || (v instanceof Boolean && v.equals(args.get(0)));
      case "lower" -> v instanceof String s && s.equals(s.toLowerCase(Locale.ROOT));
      case "upper" -> v instanceof String s && s.equals(s.toUpperCase(Locale.ROOT));
      default -> throw new TemplateException("no test named '" + name + "' (template line "
          + line + ")");
    };
  }

  // --- arguments ----------------------------------------------------------------------------

  /** Positional argument {@code index}, else keyword {@code name}, else {@code fallback}. */
  static Object arg(List<Object> args, Map<String, Object> kw, int index, String name,
      Object fallback) {
    if (index < args.size()) {
      return args.get(index);
    }
    return kw.containsKey(name) ? kw.get(name) : fallback;
  }
}
