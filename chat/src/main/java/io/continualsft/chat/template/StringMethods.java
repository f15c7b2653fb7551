package io.continualsft.chat.template;

import io.continualsft.chat.template.Py.PyCallable;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Python's str methods, as templates call them ({@code content.split('</think>')[-1]}). */
final class StringMethods {
  private StringMethods() {}

  static PyCallable bind(String s, String name, int line) {
    return switch (name) {
      case "startswith" -> (a, k) -> affix(s, a.get(0), true, line);
      case "endswith" -> (a, k) -> affix(s, a.get(0), false, line);
      case "strip" -> (a, k) -> strip(s, chars(a), true, true);
      case "lstrip" -> (a, k) -> strip(s, chars(a), true, false);
      case "rstrip" -> (a, k) -> strip(s, chars(a), false, true);
      case "split" -> (a, k) -> new ArrayList<Object>(split(s, sep(a, k),
          maxsplit(a, k)));
      case "rsplit" -> (a, k) -> new ArrayList<Object>(rsplit(s, sep(a, k), maxsplit(a, k)));
      case "splitlines" -> (a, k) -> new ArrayList<Object>(splitlines(s));
      case "replace" -> (a, k) -> replace(s, Py.str(a.get(0)), Py.str(a.get(1)),
          a.size() > 2 ? Py.toLong(a.get(2)) : -1);
      case "upper" -> (a, k) -> s.toUpperCase(Locale.ROOT);
      case "lower" -> (a, k) -> s.toLowerCase(Locale.ROOT);
      case "title" -> (a, k) -> title(s);
      case "capitalize" -> (a, k) -> capitalize(s);
      case "swapcase" -> (a, k) -> swapcase(s);
      case "find" -> (a, k) -> (long) codePointIndex(s, s.indexOf(Py.str(a.get(0))));
      case "rfind" -> (a, k) -> (long) codePointIndex(s, s.lastIndexOf(Py.str(a.get(0))));
      case "index" -> (a, k) -> {
        int i = s.indexOf(Py.str(a.get(0)));
        if (i < 0) {
          throw new TemplateException("substring not found (template line " + line + ")");
        }
        return (long) codePointIndex(s, i);
      };
      case "count" -> (a, k) -> count(s, Py.str(a.get(0)));
      case "join" -> (a, k) -> {
        StringBuilder sb = new StringBuilder();
        List<Object> items = Py.iterate(a.get(0), line);
        for (int i = 0; i < items.size(); i++) {
          if (!(items.get(i) instanceof String part)) {
            throw new TemplateException("sequence item " + i + ": expected str instance, "
                + Py.typeName(items.get(i)) + " found (template line " + line + ")");
          }
          if (i > 0) {
            sb.append(s);
          }
          sb.append(part);
        }
        return sb.toString();
      };
      case "isdigit" -> (a, k) -> !s.isEmpty() && s.codePoints().allMatch(Character::isDigit);
      case "isnumeric" -> (a, k) -> !s.isEmpty() && s.codePoints().allMatch(Character::isDigit);
      case "isalpha" -> (a, k) -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetter);
      case "isalnum" -> (a, k) -> !s.isEmpty()
          && s.codePoints().allMatch(Character::isLetterOrDigit);
      case "isspace" -> (a, k) -> !s.isEmpty() && s.codePoints().allMatch(StringMethods::isSpace);
      case "islower" -> (a, k) -> s.codePoints().anyMatch(Character::isLowerCase)
          && s.equals(s.toLowerCase(Locale.ROOT));
      case "isupper" -> (a, k) -> s.codePoints().anyMatch(Character::isUpperCase)
          && s.equals(s.toUpperCase(Locale.ROOT));
      case "format" -> (a, k) -> braceFormat(s, a, k, line);
      default -> null;
    };
  }

  /** Python's str.isspace for one code point (Java's isWhitespace misses no-break spaces). */
  static boolean isSpace(int cp) {
    return Character.isWhitespace(cp) || Character.getType(cp) == Character.SPACE_SEPARATOR
        || cp == 0x85 || cp == 0xA0;
  }

  private static String chars(List<Object> a) {
    return a.isEmpty() || a.get(0) == null ? null : Py.str(a.get(0));
  }

  private static String sep(List<Object> a, Map<String, Object> k) {
    Object v = Py.arg(a, k, 0, "sep", null);
    return v == null ? null : Py.str(v);
  }

  private static long maxsplit(List<Object> a, Map<String, Object> k) {
    return Py.toLong(Py.arg(a, k, 1, "maxsplit", -1L));
  }

  private static boolean affix(String s, Object arg, boolean prefix, int line) {
    if (arg instanceof List<?> options) {
      for (Object o : options) {
        if (affix(s, o, prefix, line)) {
          return true;
        }
      }
      return false;
    }
    if (!(arg instanceof String a)) {
      throw new TemplateException((prefix ? "startswith" : "endswith")
          + " first arg must be str or a tuple of str, not " + Py.typeName(arg)
          + " (template line " + line + ")");
    }
    return prefix ? s.startsWith(a) : s.endsWith(a);
  }

  static String strip(String s, String chars, boolean left, boolean right) {
    int[] cps = s.codePoints().toArray();
    int start = 0;
    int end = cps.length;
    if (left) {
      while (start < end && stripped(cps[start], chars)) {
        start++;
      }
    }
    if (right) {
      while (end > start && stripped(cps[end - 1], chars)) {
        end--;
      }
    }
    return new String(cps, start, end - start);
  }

  private static boolean stripped(int cp, String chars) {
    return chars == null ? isSpace(cp) : chars.codePoints().anyMatch(c -> c == cp);
  }

  /** Python's str.split: whitespace runs when sep is null (no empty strings), else exact. */
  static List<String> split(String s, String sep, long maxsplit) {
    List<String> out = new ArrayList<>();
    if (sep == null) {
      int[] cps = s.codePoints().toArray();
      int i = 0;
      while (i < cps.length) {
        while (i < cps.length && isSpace(cps[i])) {
          i++;
        }
        if (i >= cps.length) {
          break;
        }
        if (maxsplit >= 0 && out.size() >= maxsplit) {
          int end = cps.length;
          while (end > i && isSpace(cps[end - 1])) {
            end--;
          }
          out.add(new String(cps, i, end - i));
          break;
        }
        int start = i;
        while (i < cps.length && !isSpace(cps[i])) {
          i++;
        }
        out.add(new String(cps, start, i - start));
      }
      return out;
    }
    if (sep.isEmpty()) {
      throw new TemplateException("empty separator");
    }
    int from = 0;
    while (maxsplit < 0 || out.size() < maxsplit) {
      int at = s.indexOf(sep, from);
      if (at < 0) {
        break;
      }
      out.add(s.substring(from, at));
      from = at + sep.length();
    }
    out.add(s.substring(from));
    return out;
  }

  static List<String> rsplit(String s, String sep, long maxsplit) {
    if (maxsplit < 0) {
      return split(s, sep, -1);
    }
    if (sep == null) {
      List<String> reversed = split(new StringBuilder(s).reverse().toString(), null, maxsplit);
      List<String> out = new ArrayList<>();
      for (int i = reversed.size() - 1; i >= 0; i--) {
        out.add(new StringBuilder(reversed.get(i)).reverse().toString());
      }
      return out;
    }
    List<String> out = new ArrayList<>();
    int to = s.length();
    while (out.size() < maxsplit) {
      int at = s.lastIndexOf(sep, to - sep.length());
      if (at < 0 || to - sep.length() < 0) {
        break;
      }
      out.add(0, s.substring(at + sep.length(), to));
      to = at;
    }
    out.add(0, s.substring(0, to));
    return out;
  }

  /** Python's str.splitlines() (without keepends). */
  static List<String> splitlines(String s) {
    List<String> out = new ArrayList<>();
    int start = 0;
    int i = 0;
    while (i < s.length()) {
      char c = s.charAt(i);
      boolean boundary = c == '\n' || c == '\r' || c == '\u000b' || c == '\u000c'
          || c == '\u001c' || c == '\u001d' || c == '\u001e' || c == '\u0085'
          || c == '\u2028' || c == '\u2029';
      if (boundary) {
        out.add(s.substring(start, i));
        if (c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n') {
          i++;
        }
        start = i + 1;
      }
      i++;
    }
    if (start < s.length()) {
      out.add(s.substring(start));
    }
    return out;
  }

  static String replace(String s, String old, String replacement, long count) {
    if (count < 0) {
      if (old.isEmpty()) {
        // Python inserts the replacement between every character and at both ends.
        StringBuilder sb = new StringBuilder(replacement);
        s.codePoints().forEach(cp -> sb.appendCodePoint(cp).append(replacement));
        return sb.toString();
      }
      return s.replace(old, replacement);
    }
    StringBuilder sb = new StringBuilder();
    int from = 0;
    long done = 0;
    while (done < count) {
      int at = s.indexOf(old, from);
      if (at < 0 || old.isEmpty()) {
        break;
      }
      sb.append(s, from, at).append(replacement);
      from = at + old.length();
      done++;
    }
    return sb.append(s.substring(from)).toString();
  }

  static String title(String s) {
    StringBuilder sb = new StringBuilder();
    boolean previousCased = false;
    for (int cp : s.codePoints().toArray()) {
      boolean cased = Character.isUpperCase(cp) || Character.isLowerCase(cp)
          || Character.isTitleCase(cp);
      if (cased) {
        sb.appendCodePoint(previousCased ? Character.toLowerCase(cp) : Character.toTitleCase(cp));
      } else {
        sb.appendCodePoint(cp);
      }
      previousCased = cased;
    }
    return sb.toString();
  }

  static String capitalize(String s) {
    if (s.isEmpty()) {
      return s;
    }
    int first = s.codePointAt(0);
    int width = Character.charCount(first);
    return new String(Character.toChars(Character.toTitleCase(first)))
        + s.substring(width).toLowerCase(Locale.ROOT);
  }

  private static String swapcase(String s) {
    StringBuilder sb = new StringBuilder();
    s.codePoints().forEach(cp -> sb.appendCodePoint(Character.isUpperCase(cp)
        ? Character.toLowerCase(cp) : Character.isLowerCase(cp) ? Character.toUpperCase(cp) : cp));
    return sb.toString();
  }

  private static long count(String s, String sub) {
    if (sub.isEmpty()) {
      return s.codePointCount(0, s.length()) + 1L;
    }
    long n = 0;
    int from = 0;
    while (true) {
      int at = s.indexOf(sub, from);
      if (at < 0) {
        return n;
      }
      n++;
      from = at + sub.length();
    }
  }

  private static int codePointIndex(String s, int charIndex) {
    return charIndex < 0 ? -1 : s.codePointCount(0, charIndex);
  }

  /** str.format with {}, {0} and {name} fields (no format specs beyond that). */
  private static String braceFormat(String s, List<Object> args, Map<String, Object> kw, int line) {
    StringBuilder sb = new StringBuilder();
    int auto = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '{' && i + 1 < s.length() && s.charAt(i + 1) == '{') {
        sb.append('{');
        i++;
      } else if (c == '}' && i + 1 < s.length() && s.charAt(i + 1) == '}') {
        sb.append('}');
        i++;
      } else if (c == '{') {
        int end = s.indexOf('}', i);
        if (end < 0) {
          throw new TemplateException("Single '{' encountered in format string (template line "
              + line + ")");
        }
        String field = s.substring(i + 1, end);
        Object v;
        if (field.isEmpty()) {
          v = args.get(auto++);
        } else if (field.chars().allMatch(Character::isDigit)) {
          v = args.get(Integer.parseInt(field));
        } else {
          v = kw.get(field);
        }
        sb.append(Py.str(v));
        i = end;
      } else {
        sb.append(c);
      }
    }
    return sb.toString();
  }
}
