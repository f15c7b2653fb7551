package io.continualsft.chat.template;

import io.continualsft.chat.template.Py.Namespace;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code json.dumps} as transformers' {@code tojson} filter calls it, byte for byte: Python's
 * separators and float repr, {@code ensure_ascii=False}, keys as Python turns them into strings.
 */
final class PyJson {
  private PyJson() {}

  /**
   * {@code json.dumps(v, ensure_ascii=False, indent=indent, separators=None, sort_keys=sortKeys)}
   * as transformers' {@code tojson} filter calls it: {@code ", "} and {@code ": "} between items
   * without an indent, {@code ","} and newlines with one.
   */
  static String dumps(Object v, Integer indent, boolean sortKeys, int line) {
    StringBuilder sb = new StringBuilder();
    writeJson(sb, v, indent, sortKeys, 0, line);
    return sb.toString();
  }

  private static void writeJson(StringBuilder sb, Object v, Integer indent, boolean sortKeys,
      int depth, int line) {
    if (v == null) {
      sb.append("null");
    } else if (v instanceof Boolean b) {
      sb.append(b ? "true" : "false");
    } else if (v instanceof Long l) {
      sb.append(l);
    } else if (v instanceof Double d) {
      if (Double.isNaN(d)) {
        sb.append("NaN");
      } else if (Double.isInfinite(d)) {
        sb.append(d > 0 ? "Infinity" : "-Infinity");
      } else {
        sb.append(Py.floatRepr(d));
      }
    } else if (v instanceof String s) {
      jsonString(sb, s);
    } else if (v instanceof List<?> list) {
      if (list.isEmpty()) {
        sb.append("[]");
        return;
      }
      sb.append('[');
      for (int i = 0; i < list.size(); i++) {
        if (i > 0) {
          sb.append(indent == null ? ", " : ",");
        }
        newline(sb, indent, depth + 1);
        writeJson(sb, list.get(i), indent, sortKeys, depth + 1, line);
      }
      newline(sb, indent, depth);
      sb.append(']');
    } else if (v instanceof Map<?, ?> map) {
      if (map.isEmpty()) {
        sb.append("{}");
        return;
      }
      List<Map.Entry<?, ?>> entries = new ArrayList<>(map.entrySet());
      if (sortKeys) {
        entries.sort((x, y) -> Py.compare(x.getKey(), y.getKey(), line));
      }
      sb.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : entries) {
        if (!first) {
          sb.append(indent == null ? ", " : ",");
        }
        first = false;
        newline(sb, indent, depth + 1);
        Object key = e.getKey();
        jsonString(sb, key instanceof String s ? s : jsonKey(key, line));
        sb.append(": ");
        writeJson(sb, e.getValue(), indent, sortKeys, depth + 1, line);
      }
      newline(sb, indent, depth);
      sb.append('}');
    } else if (v instanceof Namespace ns) {
      writeJson(sb, ns.attrs, indent, sortKeys, depth, line);
    } else {
      throw new TemplateException("Object of type " + Py.typeName(v) + " is not JSON serializable"
          + " (template line " + line + ")");
    }
  }

  private static String jsonKey(Object key, int line) {
    if (key == null) {
      return "null";
    }
    if (key instanceof Boolean b) {
      return b ? "true" : "false";
    }
    if (key instanceof Long || key instanceof Double) {
      return Py.repr(key);
    }
    throw new TemplateException("keys must be str, int, float, bool or None, not "
        + Py.typeName(key) + " (template line " + line + ")");
  }

  private static void newline(StringBuilder sb, Integer indent, int depth) {
    if (indent != null) {
      sb.append('\n').append(" ".repeat(indent * depth));
    }
  }

  private static void jsonString(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        case '\b' -> sb.append("\\b");
        case '\f' -> sb.append("\\f");
        default -> {
          if (c < 0x20) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    sb.append('"');
  }
}
