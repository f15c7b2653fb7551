package io.continualsft.chat.template;

import java.util.List;

/** Python's printf-style {@code "%s: %d" % (a, b)}, the conversions templates use. */
final class PercentFormat {
  private PercentFormat() {}

  static String format(String format, List<?> args, int line) {
    StringBuilder sb = new StringBuilder();
    int next = 0;
    for (int i = 0; i < format.length(); i++) {
      char c = format.charAt(i);
      if (c != '%') {
        sb.append(c);
        continue;
      }
      int j = i + 1;
      StringBuilder spec = new StringBuilder("%");
      while (j < format.length() && "-+ 0#".indexOf(format.charAt(j)) >= 0) {
        spec.append(format.charAt(j++));
      }
      while (j < format.length() && (Character.isDigit(format.charAt(j)) || format.charAt(j) == '.')) {
        spec.append(format.charAt(j++));
      }
      if (j >= format.length()) {
        throw new TemplateException("incomplete format (template line " + line + ")");
      }
      char conv = format.charAt(j);
      i = j;
      if (conv == '%') {
        sb.append('%');
        continue;
      }
      if (next >= args.size()) {
        throw new TemplateException("not enough arguments for format string (template line "
            + line + ")");
      }
      Object arg = args.get(next++);
      switch (conv) {
        case 's' -> sb.append(String.format(spec + "s", Py.str(arg)));
        case 'r' -> sb.append(String.format(spec + "s", Py.repr(arg)));
        case 'd', 'i' -> sb.append(String.format(spec + "d", Py.toLong(arg instanceof Double d
            ? (long) d.doubleValue() : arg)));
        case 'f', 'F', 'e', 'E', 'g', 'G' -> sb.append(String.format(spec.toString() + conv,
            Py.toDouble(arg)));
        case 'x', 'X', 'o' -> sb.append(String.format(spec.toString() + conv, Py.toLong(arg)));
        default -> throw new TemplateException("unsupported format character '" + conv
            + "' (template line " + line + ")");
      }
    }
    if (next < args.size()) {
      throw new TemplateException("not all arguments converted during string formatting"
          + " (template line " + line + ")");
    }
    return sb.toString();
  }
}
