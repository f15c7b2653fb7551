package io.continualsft.chat.template;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits a template into text and tag tokens the way jinja2 does for transformers' chat
 * templates: {@code trim_blocks} (the first newline after a block or comment tag is removed),
 * {@code lstrip_blocks} (spaces and tabs before a block or comment tag at the start of a line are
 * removed), {@code -} on either side of a tag strips all whitespace on that side, {@code +}
 * disables lstrip/trim for that tag, and {@code {% raw %}} keeps its body verbatim.
 */
final class Lexer {
  enum Kind {
    TEXT, // the text of a data segment
    VAR_BEGIN,
    VAR_END,
    BLOCK_BEGIN,
    BLOCK_END,
    NAME,
    STRING,
    INTEGER,
    FLOAT,
    OPERATOR,
    EOF
  }

  record Token(Kind kind, String text, int line) {
    boolean is(Kind k, String t) {
      return kind == k && text.equals(t);
    }

    boolean isName(String t) {
      return kind == Kind.NAME && text.equals(t);
    }

    boolean isOp(String t) {
      return kind == Kind.OPERATOR && text.equals(t);
    }

    @Override
    public String toString() {
      return kind == Kind.EOF ? "end of template" : "'" + text + "'";
    }
  }

  private static final String[] OPERATORS = {
    "//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "(", ")", "[",
    "]", "{", "}", ",", ".", ":", "|", "=", ";"
  };

  private final String src;
  private int pos;
  private int line = 1;
  private final List<Token> out = new ArrayList<>();

  private Lexer(String src) {
    this.src = src;
  }

  static List<Token> tokenize(String source) {
    // jinja2's defaults: newlines normalised to \n, one trailing newline of the source dropped
    // (keep_trailing_newline=False). Only the template's own text; variables are untouched.
    String normalised = source.replace("\r\n", "\n").replace('\r', '\n');
    if (normalised.endsWith("\n")) {
      normalised = normalised.substring(0, normalised.length() - 1);
    }
    Lexer lexer = new Lexer(normalised);
    lexer.run();
    return lexer.out;
  }

  private void run() {
    boolean stripNextLeading = false; // a "-%}" / "-}}" before this text
    boolean trimNextNewline = false; // trim_blocks after a block/comment tag
    while (pos < src.length()) {
      int open = nextTagOpen(pos);
      String text = src.substring(pos, open < 0 ? src.length() : open);
      if (stripNextLeading) {
        text = text.stripLeading();
      } else if (trimNextNewline && text.startsWith("\n")) {
        text = text.substring(1);
      }
      stripNextLeading = false;
      trimNextNewline = false;
      if (open < 0) {
        emitText(text);
        pos = src.length();
        break;
      }
      char kind = src.charAt(open + 1); // '{', '%' or '#'
      char modifier = open + 2 < src.length() ? src.charAt(open + 2) : ' ';
      if (modifier == '-') {
        text = text.stripTrailing();
      } else if (kind != '{' && modifier != '+') {
        text = lstripBlock(text, open);
      }
      emitText(text);
      line += count(src, pos, open, '\n');
      pos = open + 2 + (modifier == '-' || modifier == '+' ? 1 : 0);

      if (kind == '#') {
        int end = src.indexOf("#}", pos);
        if (end < 0) {
          throw new TemplateSyntaxException("unclosed comment", line);
        }
        boolean minus = end > pos && src.charAt(end - 1) == '-';
        boolean plus = end > pos && src.charAt(end - 1) == '+';
        line += count(src, pos, end, '\n');
        pos = end + 2;
        stripNextLeading = minus;
        trimNextNewline = !minus && !plus;
        continue;
      }
      boolean block = kind == '%';
      out.add(new Token(block ? Kind.BLOCK_BEGIN : Kind.VAR_BEGIN, block ? "{%" : "{{", line));
      int tagStart = out.size();
      String closer = block ? "%}" : "}}";
      char closerFirst = closer.charAt(0);
      int depth = 0; // open ( [ {: as in jinja2, "}}" inside a dict literal does not close the tag
      while (true) {
        skipWhitespace();
        if (pos >= src.length()) {
          throw new TemplateSyntaxException("unclosed tag, expected " + closer, line);
        }
        char c = src.charAt(pos);
        if (depth > 0) {
          lexToken();
          Token t = out.get(out.size() - 1);
          if (t.kind() == Kind.OPERATOR) {
            depth += switch (t.text()) {
              case "(", "[", "{" -> 1;
              case ")", "]", "}" -> -1;
              default -> 0;
            };
          }
          continue;
        }
        if ((c == '-' || c == '+') && src.startsWith(closer, pos + 1)) {
          pos += 1 + closer.length();
          stripNextLeading = c == '-';
          trimNextNewline = block && c != '-' && c != '+';
          break;
        }
        if (c == closerFirst && src.startsWith(closer, pos)) {
          pos += closer.length();
          trimNextNewline = block;
          break;
        }
        lexToken();
        Token t = out.get(out.size() - 1);
        if (t.kind() == Kind.OPERATOR && (t.text().equals("(") || t.text().equals("[")
            || t.text().equals("{"))) {
          depth++;
        }
      }
      out.add(new Token(block ? Kind.BLOCK_END : Kind.VAR_END, closer, line));
      if (block && isRawTag(tagStart)) {
        // {% raw %}: everything up to {% endraw %} is text.
        out.subList(tagStart - 1, out.size()).clear();
        lexRawBody(stripNextLeading, trimNextNewline);
        stripNextLeading = rawStripNext;
        trimNextNewline = rawTrimNext;
      }
    }
    out.add(new Token(Kind.EOF, "", line));
  }

  private boolean rawStripNext;
  private boolean rawTrimNext;

  private boolean isRawTag(int tagStart) {
    return out.size() - tagStart == 2 && out.get(tagStart).isName("raw");
  }

  private void lexRawBody(boolean stripLeading, boolean trimNewline) {
    int search = pos;
    while (true) {
      int open = src.indexOf("{%", search);
      if (open < 0) {
        throw new TemplateSyntaxException("unclosed {% raw %}", line);
      }
      int p = open + 2;
      boolean minus = p < src.length() && src.charAt(p) == '-';
      if (minus || (p < src.length() && src.charAt(p) == '+')) {
        p++;
      }
      while (p < src.length() && Character.isWhitespace(src.charAt(p))) {
        p++;
      }
      if (src.startsWith("endraw", p)) {
        int q = p + "endraw".length();
        while (q < src.length() && Character.isWhitespace(src.charAt(q))) {
          q++;
        }
        char c = q < src.length() ? src.charAt(q) : ' ';
        boolean closeMinus = c == '-';
        boolean closePlus = c == '+';
        if (closeMinus || closePlus) {
          q++;
        }
        if (src.startsWith("%}", q)) {
          String body = src.substring(pos, open);
          if (stripLeading) {
            body = body.stripLeading();
          } else if (trimNewline && body.startsWith("\n")) {
            body = body.substring(1);
          }
          if (minus) {
            body = body.stripTrailing();
          }
          emitText(body);
          line += count(src, pos, q + 2, '\n');
          pos = q + 2;
          rawStripNext = closeMinus;
          rawTrimNext = !closeMinus && !closePlus;
          return;
        }
      }
      search = open + 2;
    }
  }

  /**
   * lstrip_blocks: drop the spaces and tabs between the start of a line and a block tag. Whether
   * the tag starts its line is decided on the source, as jinja2 does, not on the (possibly
   * already trimmed) text.
   */
  private String lstripBlock(String text, int tagPos) {
    int j = tagPos;
    while (j > 0 && (src.charAt(j - 1) == ' ' || src.charAt(j - 1) == '\t')) {
      j--;
    }
    if (j != 0 && src.charAt(j - 1) != '\n') {
      return text;
    }
    int i = text.length();
    while (i > 0 && (text.charAt(i - 1) == ' ' || text.charAt(i - 1) == '\t')) {
      i--;
    }
    return text.substring(0, i);
  }

  private int nextTagOpen(int from) {
    int i = from;
    while (true) {
      int open = src.indexOf('{', i);
      if (open < 0 || open + 1 >= src.length()) {
        return -1;
      }
      char next = src.charAt(open + 1);
      if (next == '{' || next == '%' || next == '#') {
        return open;
      }
      i = open + 1;
    }
  }

  private void emitText(String text) {
    if (!text.isEmpty()) {
      out.add(new Token(Kind.TEXT, text, line));
    }
  }

  private void skipWhitespace() {
    while (pos < src.length() && Character.isWhitespace(src.charAt(pos))) {
      if (src.charAt(pos) == '\n') {
        line++;
      }
      pos++;
    }
  }

  private void lexToken() {
    char c = src.charAt(pos);
    if (c == '\'' || c == '"') {
      out.add(new Token(Kind.STRING, readString(c), line));
      return;
    }
    if (Character.isDigit(c)) {
      int start = pos;
      while (pos < src.length() && (Character.isDigit(src.charAt(pos)) || src.charAt(pos) == '_')) {
        pos++;
      }
      boolean isFloat = false;
      if (pos + 1 < src.length() && src.charAt(pos) == '.' && Character.isDigit(src.charAt(pos + 1))) {
        isFloat = true;
        pos++;
        while (pos < src.length() && Character.isDigit(src.charAt(pos))) {
          pos++;
        }
      }
      if (pos < src.length() && (src.charAt(pos) == 'e' || src.charAt(pos) == 'E')) {
        int save = pos;
        pos++;
        if (pos < src.length() && (src.charAt(pos) == '+' || src.charAt(pos) == '-')) {
          pos++;
        }
        if (pos < src.length() && Character.isDigit(src.charAt(pos))) {
          isFloat = true;
          while (pos < src.length() && Character.isDigit(src.charAt(pos))) {
            pos++;
          }
        } else {
          pos = save;
        }
      }
      String number = src.substring(start, pos).replace("_", "");
      out.add(new Token(isFloat ? Kind.FLOAT : Kind.INTEGER, number, line));
      return;
    }
    if (Character.isLetter(c) || c == '_') {
      int start = pos;
      while (pos < src.length()
          && (Character.isLetterOrDigit(src.charAt(pos)) || src.charAt(pos) == '_')) {
        pos++;
      }
      out.add(new Token(Kind.NAME, src.substring(start, pos), line));
      return;
    }
    for (String op : OPERATORS) {
      if (src.startsWith(op, pos)) {
        pos += op.length();
        out.add(new Token(Kind.OPERATOR, op, line));
        return;
      }
    }
    throw new TemplateSyntaxException("unexpected character '" + c + "'", line);
  }

  /** A Python string literal with Python's escapes (jinja2 decodes them as unicode-escape). */
  private String readString(char quote) {
    StringBuilder sb = new StringBuilder();
    pos++;
    while (true) {
      if (pos >= src.length()) {
        throw new TemplateSyntaxException("unterminated string", line);
      }
      char c = src.charAt(pos++);
      if (c == quote) {
        return sb.toString();
      }
      if (c == '\n') {
        line++;
      }
      if (c != '\\') {
        sb.append(c);
        continue;
      }
      if (pos >= src.length()) {
        throw new TemplateSyntaxException("unterminated string", line);
      }
      char e = src.charAt(pos++);
      switch (e) {
        case 'n' -> sb.append('\n');
        case 't' -> sb.append('\t');
        case 'r' -> sb.append('\r');
        case 'b' -> sb.append('\b');
        case 'f' -> sb.append('\f');
        case 'v' -> sb.append('\u000b');
        case 'a' -> sb.append('\u0007');
        case '0', '1', '2', '3', '4', '5', '6', '7' -> {
          int start = pos - 1;
          while (pos < src.length() && pos - start < 3 && src.charAt(pos) >= '0' && src.charAt(pos) <= '7') {
            pos++;
          }
          sb.appendCodePoint(Integer.parseInt(src.substring(start, pos), 8));
        }
        case 'x' -> sb.appendCodePoint(hex(2));
        case 'u' -> sb.appendCodePoint(hex(4));
        case 'U' -> sb.appendCodePoint(hex(8));
        case '\n' -> line++; // line continuation
        case '\\', '\'', '"' -> sb.append(e);
        default -> sb.append('\\').append(e); // Python keeps unknown escapes as written
      }
    }
  }

  private int hex(int digits) {
    if (pos + digits > src.length()) {
      throw new TemplateSyntaxException("truncated escape in string", line);
    }
    int v = Integer.parseInt(src.substring(pos, pos + digits), 16);
    pos += digits;
    return v;
  }

  private static int count(String s, int from, int to, char c) {
    int n = 0;
    for (int i = from; i < to && i < s.length(); i++) {
      if (s.charAt(i) == c) {
        n++;
      }
    }
    return n;
  }
}
