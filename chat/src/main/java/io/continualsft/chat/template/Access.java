package io.continualsft.chat.template;

import io.continualsft.chat.template.Py.Namespace;
import io.continualsft.chat.template.Py.PyCallable;
import io.continualsft.chat.template.Py.Undefined;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code x.name}, {@code x[key]} and {@code x[a:b:c]} as Python evaluates them on template
 * values, with the dict, list and str methods templates call; the methods that would mutate a
 * value are refused, as jinja2's sandbox refuses them.
 */
final class Access {
  private static final Set<String> UNSAFE_LIST_METHODS =
      Set.of("append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse");
  private static final Set<String> UNSAFE_DICT_METHODS =
      Set.of("update", "pop", "popitem", "setdefault", "clear");

  private Access() {}

  static Object getAttr(Object target, String name, int line) {
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

  static Object getItem(Object target, Object key, int line) {
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
  static Object slice(Object target, Object start, Object stop, Object step) {
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
    return target instanceof Py.Tuple ? new Py.Tuple(out) : out;
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
        Object key = Py.arg(a, k, 0, "key", null);
        return map.containsKey(key) ? map.get(key) : Py.arg(a, k, 1, "default", null);
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

  /** {@code dict.items()}: [key, value] pairs in insertion order. */
  static List<Object> items(Map<?, ?> map) {
    List<Object> out = new ArrayList<>();
    map.forEach((k, v) -> out.add(pair(k, v)));
    return out;
  }

  private static List<Object> pair(Object a, Object b) {
    return new Py.Tuple(java.util.Arrays.asList(a, b));
  }

  /**
   * jinja2's {@code attr} filter: an attribute only, never an item, so a dict's keys are not
   * attributes ({@code {'a': 1} | attr('a')} is undefined) but its methods are.
   */
  static Object attr(Object target, String name, int line) {
    if (target instanceof Map<?, ?> map) {
      PyCallable method = dictMethod(map, name, line);
      return method != null ? method : Undefined.missing(target, name);
    }
    return getAttr(target, name, line);
  }

  /** {@code item.a.b} or {@code item.0}: jinja2's attribute paths of filters such as map. */
  static Object attribute(Object item, Object attribute, int line) {
    Object current = item;
    for (String part : Py.str(attribute).split("\\.")) {
      current = part.matches("-?\\d+") ? getItem(current, Long.parseLong(part), line)
          : getItem(current, part, line);
    }
    return current;
  }
}
