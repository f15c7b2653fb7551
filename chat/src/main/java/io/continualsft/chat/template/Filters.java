package io.continualsft.chat.template;

import io.continualsft.chat.template.Py.Undefined;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** jinja2's filters, each as the Python original behaves on the values chat templates see. */
final class Filters {
  private Filters() {}

  static Object filter(String name, Object v, List<Object> args, Map<String, Object> kw, int line) {
    switch (name) {
      case "tojson": {
        Object indent = Py.arg(args, kw, 0, "indent", null);
        boolean sortKeys = Py.truthy(Py.arg(args, kw, 99, "sort_keys", false));
        String json = PyJson.dumps(v, indent == null ? null : (int) Py.toLong(indent), sortKeys, line);
        return Py.truthy(Py.arg(args, kw, 99, "ensure_ascii", false)) ? asciiEscape(json) : json;
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
        Object chars = Py.arg(args, kw, 0, "chars", null);
        return StringMethods.strip(Py.str(v), chars == null ? null : Py.str(chars), true, true);
      }
      case "replace": {
        Object count = Py.arg(args, kw, 2, "count", null);
        return StringMethods.replace(Py.str(v), Py.str(args.get(0)), Py.str(args.get(1)),
            count == null ? -1 : Py.toLong(count));
      }
      case "default":
      case "d": {
        Object fallback = Py.arg(args, kw, 0, "default_value", "");
        boolean bool = Py.truthy(Py.arg(args, kw, 1, "boolean", false));
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
        String sep = Py.str(Py.arg(args, kw, 0, "d", ""));
        Object attribute = Py.arg(args, kw, 1, "attribute", null);
        StringBuilder sb = new StringBuilder();
        List<Object> items = Py.iterate(v, line);
        for (int i = 0; i < items.size(); i++) {
          if (i > 0) {
            sb.append(sep);
          }
          Object item = attribute == null ? items.get(i) : Access.attribute(items.get(i), attribute, line);
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
        return Access.items(map);
      case "dictsort": {
        if (!(v instanceof Map<?, ?> map)) {
          throw new TemplateException("dictsort needs a dict, got " + Py.typeName(v));
        }
        boolean caseSensitive = Py.truthy(Py.arg(args, kw, 0, "case_sensitive", false));
        boolean byValue = "value".equals(Py.arg(args, kw, 1, "by", "key"));
        boolean reverse = Py.truthy(Py.arg(args, kw, 2, "reverse", false));
        List<Object> pairs = Access.items(map);
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
        boolean reverse = Py.truthy(Py.arg(args, kw, 0, "reverse", false));
        boolean caseSensitive = Py.truthy(Py.arg(args, kw, 1, "case_sensitive", false));
        Object attribute = Py.arg(args, kw, 2, "attribute", null);
        List<Object> items = Py.iterate(v, line);
        Comparator<Object> cmp = (a, b) -> Py.compare(
            sortKey(attribute == null ? a : Access.attribute(a, attribute, line), caseSensitive),
            sortKey(attribute == null ? b : Access.attribute(b, attribute, line), caseSensitive), line);
        items.sort(reverse ? cmp.reversed() : cmp);
        return items;
      }
      case "unique": {
        boolean caseSensitive = Py.truthy(Py.arg(args, kw, 0, "case_sensitive", false));
        Object attribute = Py.arg(args, kw, 1, "attribute", null);
        List<Object> out = new ArrayList<>();
        List<Object> seen = new ArrayList<>();
        for (Object item : Py.iterate(v, line)) {
          Object key = sortKey(attribute == null ? item : Access.attribute(item, attribute, line),
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
          Object value = Access.attribute(item, attribute, line);
          boolean ok = args.size() > 1
              ? Tests.test(Py.str(args.get(1)), value, args.subList(2, args.size()), line)
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
              : Tests.test(Py.str(args.get(0)), item, args.subList(1, args.size()), line);
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
            Object value = Access.attribute(item, kw.get("attribute"), line);
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
        Object def = Py.arg(args, kw, 0, "default", 0L);
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
        Object def = Py.arg(args, kw, 0, "default", 0.0);
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
        long precision = Py.toLong(Py.arg(args, kw, 0, "precision", 0L));
        String method = Py.str(Py.arg(args, kw, 1, "method", "common"));
        if (method.equals("ceil") || method.equals("floor")) {
          double scale = Math.pow(10, precision);
          double x = Py.toDouble(v) * scale;
          return (method.equals("ceil") ? Math.ceil(x) : Math.floor(x)) / scale;
        }
        if (!method.equals("common")) {
          throw new TemplateException("method must be common, ceil or floor (template line "
              + line + ")");
        }
        // Python's round(): half to even, on the float's exact value (round(2.675, 2) is 2.67).
        java.math.RoundingMode even = java.math.RoundingMode.HALF_EVEN;
        if (Py.isIntegral(v)) {
          return java.math.BigDecimal.valueOf(Py.toLong(v)).setScale((int) precision, even)
              .longValue();
        }
        return new java.math.BigDecimal(Py.toDouble(v)).setScale((int) precision, even)
            .doubleValue();
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
        Object attribute = Py.arg(args, kw, 0, "attribute", null);
        Object total = Py.arg(args, kw, 1, "start", 0L);
        for (Object item : Py.iterate(v, line)) {
          total = Operators.arithmetic("+", total, attribute == null ? item : Access.attribute(item, attribute, line),
              line);
        }
        return total;
      }
      case "indent":
        return indent(Py.str(v), Py.arg(args, kw, 0, "width", 4L),
            Py.truthy(Py.arg(args, kw, 1, "first", false)), Py.truthy(Py.arg(args, kw, 2, "blank", false)));
      case "wordcount":
        return (long) StringMethods.split(Py.str(v), null, -1).size();
      case "center": {
        String s = Py.str(v);
        int width = (int) Py.toLong(Py.arg(args, kw, 0, "width", 80L));
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
        return Access.attr(v, Py.str(args.get(0)), line);
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
}
