package io.continualsft.chat.template;

import io.continualsft.chat.template.Ast.Binary;
import io.continualsft.chat.template.Ast.Call;
import io.continualsft.chat.template.Ast.Cond;
import io.continualsft.chat.template.Ast.DictExpr;
import io.continualsft.chat.template.Ast.Expr;
import io.continualsft.chat.template.Ast.Filter;
import io.continualsft.chat.template.Ast.GetAttr;
import io.continualsft.chat.template.Ast.GetItem;
import io.continualsft.chat.template.Ast.ListExpr;
import io.continualsft.chat.template.Ast.Literal;
import io.continualsft.chat.template.Ast.Name;
import io.continualsft.chat.template.Ast.Node;
import io.continualsft.chat.template.Ast.Slice;
import io.continualsft.chat.template.Ast.Test;
import io.continualsft.chat.template.Ast.Unary;
import io.continualsft.chat.template.Lexer.Kind;
import io.continualsft.chat.template.Lexer.Token;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * A recursive-descent parser for the Jinja subset chat templates use, with jinja2's operator
 * precedence: {@code x if c else y} < or < and < not < comparisons / in / not in < + - < ~ <
 * * / // % < ** < unary minus < filters, tests, calls, attribute and item access.
 */
final class Parser {
  private static final Set<String> COMPARISONS = Set.of("==", "!=", "<", "<=", ">", ">=");

  private final List<Token> tokens;
  private int pos;

  private Parser(List<Token> tokens) {
    this.tokens = tokens;
  }

  static List<Node> parse(String source) {
    Parser parser = new Parser(Lexer.tokenize(source));
    List<Node> body = parser.parseBody(Set.of());
    if (parser.peek().kind() != Kind.EOF) {
      throw new TemplateSyntaxException("unexpected " + parser.peekBlockName(), parser.peek().line());
    }
    return body;
  }

  // --- statements ---------------------------------------------------------------------------

  /** Parses nodes until a block tag whose name is in {@code endNames} (not consumed) or EOF. */
  private List<Node> parseBody(Set<String> endNames) {
    List<Node> nodes = new ArrayList<>();
    while (true) {
      Token t = peek();
      switch (t.kind()) {
        case EOF -> {
          if (!endNames.isEmpty()) {
            throw new TemplateSyntaxException("missing {% " + String.join(" / ", endNames)
                + " %} before the end of the template", t.line());
          }
          return nodes;
        }
        case TEXT -> {
          next();
          nodes.add(new Ast.Text(t.text()));
        }
        case VAR_BEGIN -> {
          next();
          Expr e = parseExpression();
          expect(Kind.VAR_END, "}}");
          nodes.add(new Ast.Output(e, t.line()));
        }
        case BLOCK_BEGIN -> {
          Token name = tokens.get(pos + 1);
          if (name.kind() == Kind.NAME && endNames.contains(name.text())) {
            return nodes;
          }
          next();
          nodes.add(parseStatement());
        }
        default -> throw new TemplateSyntaxException("unexpected " + t, t.line());
      }
    }
  }

  private String peekBlockName() {
    return peek().kind() == Kind.BLOCK_BEGIN ? "{% " + tokens.get(pos + 1).text() + " %}"
        : peek().toString();
  }

  private Node parseStatement() {
    Token keyword = next();
    if (keyword.kind() != Kind.NAME) {
      throw new TemplateSyntaxException("expected a statement name, got " + keyword, keyword.line());
    }
    return switch (keyword.text()) {
      case "if" -> parseIf();
      case "for" -> parseFor(keyword.line());
      case "set" -> parseSet(keyword.line());
      case "macro" -> parseMacro();
      case "break" -> {
        endTag();
        yield new Ast.Break();
      }
      case "continue" -> {
        endTag();
        yield new Ast.Continue();
      }
      case "filter" -> parseFilterBlock(keyword.line());
      case "generation" -> {
        endTag();
        List<Node> body = parseBody(Set.of("endgeneration"));
        closeBlock("endgeneration");
        yield new Ast.Generation(body);
      }
      default -> throw new TemplateSyntaxException(
          "unsupported statement {% " + keyword.text() + " %}", keyword.line());
    };
  }

  private Node parseIf() {
    List<Expr> tests = new ArrayList<>();
    List<List<Node>> bodies = new ArrayList<>();
    tests.add(parseExpression());
    endTag();
    bodies.add(parseBody(Set.of("elif", "else", "endif")));
    List<Node> elseBody = List.of();
    while (true) {
      next(); // {%
      String which = next().text();
      if (which.equals("elif")) {
        tests.add(parseExpression());
        endTag();
        bodies.add(parseBody(Set.of("elif", "else", "endif")));
      } else if (which.equals("else")) {
        endTag();
        elseBody = parseBody(Set.of("endif"));
      } else {
        endTag();
        return new Ast.If(tests, bodies, elseBody);
      }
    }
  }

  private Node parseFor(int line) {
    List<String> targets = new ArrayList<>();
    targets.add(expectName());
    while (peek().isOp(",")) {
      next();
      targets.add(expectName());
    }
    if (!next().isName("in")) {
      throw new TemplateSyntaxException("expected 'in' in for loop", line);
    }
    // The iterable stops before a loop filter: parse without the conditional expression.
    Expr iterable = parseOr();
    Expr filter = null;
    if (peek().isName("if")) {
      next();
      filter = parseExpression();
    }
    if (peek().isName("recursive")) {
      throw new TemplateSyntaxException("recursive loops are not supported", line);
    }
    endTag();
    List<Node> body = parseBody(Set.of("else", "endfor"));
    List<Node> elseBody = List.of();
    if (tokens.get(pos + 1).isName("else")) {
      next();
      next();
      endTag();
      elseBody = parseBody(Set.of("endfor"));
    }
    closeBlock("endfor");
    return new Ast.For(targets, iterable, filter, body, elseBody, line);
  }

  private Node parseSet(int line) {
    String first = expectName();
    if (peek().isOp(".")) {
      next();
      String attr = expectName();
      expectOp("=");
      Expr value = parseExpression();
      endTag();
      return new Ast.Set(List.of(first), attr, value, line);
    }
    List<String> targets = new ArrayList<>(List.of(first));
    while (peek().isOp(",")) {
      next();
      targets.add(expectName());
    }
    if (peek().kind() == Kind.BLOCK_END && targets.size() == 1) {
      next();
      List<Node> body = parseBody(Set.of("endset"));
      closeBlock("endset");
      return new Ast.SetBlock(first, body);
    }
    expectOp("=");
    Expr value = parseExpression();
    if (peek().isOp(",")) { // set a, b = 1, 2: the value is a tuple
      List<Expr> items = new ArrayList<>(List.of(value));
      while (peek().isOp(",")) {
        next();
        items.add(parseExpression());
      }
      value = new ListExpr(items, true);
    }
    endTag();
    return new Ast.Set(targets, null, value, line);
  }

  private Node parseMacro() {
    String name = expectName();
    expectOp("(");
    List<String> params = new ArrayList<>();
    List<Expr> defaults = new ArrayList<>();
    while (!peek().isOp(")")) {
      params.add(expectName());
      if (peek().isOp("=")) {
        next();
        defaults.add(parseExpression());
      } else {
        defaults.add(null);
      }
      if (!peek().isOp(")")) {
        expectOp(",");
      }
    }
    next();
    endTag();
    List<Node> body = parseBody(Set.of("endmacro"));
    closeBlock("endmacro");
    return new Ast.Macro(name, params, defaults, body);
  }

  private Node parseFilterBlock(int line) {
    String name = expectName();
    List<Expr> args = new ArrayList<>();
    if (peek().isOp("(")) {
      next();
      while (!peek().isOp(")")) {
        args.add(parseExpression());
        if (!peek().isOp(")")) {
          expectOp(",");
        }
      }
      next();
    }
    endTag();
    List<Node> body = parseBody(Set.of("endfilter"));
    closeBlock("endfilter");
    return new Ast.FilterBlock(name, args, body, line);
  }

  private void closeBlock(String name) {
    expect(Kind.BLOCK_BEGIN, "{%");
    Token t = next();
    if (!t.isName(name)) {
      throw new TemplateSyntaxException("expected {% " + name + " %}, got " + t, t.line());
    }
    endTag();
  }

  private void endTag() {
    expect(Kind.BLOCK_END, "%}");
  }

  // --- expressions --------------------------------------------------------------------------

  private Expr parseExpression() {
    Expr e = parseOr();
    if (peek().isName("if")) {
      next();
      Expr test = parseOr();
      Expr otherwise = null;
      if (peek().isName("else")) {
        next();
        otherwise = parseExpression();
      }
      return new Cond(test, e, otherwise);
    }
    return e;
  }

  private Expr parseOr() {
    Expr left = parseAnd();
    while (peek().isName("or")) {
      int line = next().line();
      left = new Binary("or", left, parseAnd(), line);
    }
    return left;
  }

  private Expr parseAnd() {
    Expr left = parseNot();
    while (peek().isName("and")) {
      int line = next().line();
      left = new Binary("and", left, parseNot(), line);
    }
    return left;
  }

  private Expr parseNot() {
    if (peek().isName("not")) {
      next();
      return new Unary("not", parseNot());
    }
    return parseCompare();
  }

  private Expr parseCompare() {
    Expr left = parseMath1();
    while (true) {
      Token t = peek();
      if (t.kind() == Kind.OPERATOR && COMPARISONS.contains(t.text())) {
        next();
        left = new Binary(t.text(), left, parseMath1(), t.line());
      } else if (t.isName("in")) {
        next();
        left = new Binary("in", left, parseMath1(), t.line());
      } else if (t.isName("not") && tokens.get(pos + 1).isName("in")) {
        next();
        next();
        left = new Binary("not in", left, parseMath1(), t.line());
      } else {
        return left;
      }
    }
  }

  private Expr parseMath1() {
    Expr left = parseConcat();
    while (peek().isOp("+") || peek().isOp("-")) {
      Token op = next();
      left = new Binary(op.text(), left, parseConcat(), op.line());
    }
    return left;
  }

  private Expr parseConcat() {
    Expr left = parseMath2();
    while (peek().isOp("~")) {
      Token op = next();
      left = new Binary("~", left, parseMath2(), op.line());
    }
    return left;
  }

  private Expr parseMath2() {
    Expr left = parsePow();
    while (peek().isOp("*") || peek().isOp("/") || peek().isOp("//") || peek().isOp("%")) {
      Token op = next();
      left = new Binary(op.text(), left, parsePow(), op.line());
    }
    return left;
  }

  private Expr parsePow() {
    Expr left = parseUnary(true);
    while (peek().isOp("**")) {
      Token op = next();
      left = new Binary("**", left, parseUnary(true), op.line());
    }
    return left;
  }

  private Expr parseUnary(boolean withFilter) {
    Expr e;
    if (peek().isOp("-") || peek().isOp("+")) {
      String op = next().text();
      e = new Unary(op, parseUnary(false));
    } else {
      e = parsePostfix(parsePrimary());
    }
    return withFilter ? parseFilterExpr(e) : e;
  }

  private Expr parsePrimary() {
    Token t = next();
    switch (t.kind()) {
      case NAME -> {
        return switch (t.text()) {
          case "true", "True" -> new Literal(Boolean.TRUE);
          case "false", "False" -> new Literal(Boolean.FALSE);
          case "none", "None" -> new Literal(null);
          default -> new Name(t.text(), t.line());
        };
      }
      case STRING -> {
        StringBuilder sb = new StringBuilder(t.text());
        while (peek().kind() == Kind.STRING) { // adjacent literals concatenate
          sb.append(next().text());
        }
        return new Literal(sb.toString());
      }
      case INTEGER -> {
        return new Literal(Long.parseLong(t.text()));
      }
      case FLOAT -> {
        return new Literal(Double.parseDouble(t.text()));
      }
      case OPERATOR -> {
        switch (t.text()) {
          case "(" -> {
            if (peek().isOp(")")) {
              next();
              return new ListExpr(List.of(), true);
            }
            Expr first = parseExpression();
            if (peek().isOp(",")) {
              List<Expr> items = new ArrayList<>(List.of(first));
              while (peek().isOp(",")) {
                next();
                if (peek().isOp(")")) {
                  break;
                }
                items.add(parseExpression());
              }
              expectOp(")");
              return new ListExpr(items, true);
            }
            expectOp(")");
            return first;
          }
          case "[" -> {
            List<Expr> items = new ArrayList<>();
            while (!peek().isOp("]")) {
              items.add(parseExpression());
              if (!peek().isOp("]")) {
                expectOp(",");
              }
            }
            next();
            return new ListExpr(items, false);
          }
          case "{" -> {
            List<Expr> keys = new ArrayList<>();
            List<Expr> values = new ArrayList<>();
            while (!peek().isOp("}")) {
              keys.add(parseExpression());
              expectOp(":");
              values.add(parseExpression());
              if (!peek().isOp("}")) {
                expectOp(",");
              }
            }
            next();
            return new DictExpr(keys, values);
          }
          default -> {
            // fall through to the error below
          }
        }
      }
      default -> {
        // fall through to the error below
      }
    }
    throw new TemplateSyntaxException("unexpected " + t + " in an expression", t.line());
  }

  private Expr parsePostfix(Expr e) {
    while (true) {
      Token t = peek();
      if (t.isOp(".")) {
        next();
        Token attr = next();
        if (attr.kind() == Kind.NAME) {
          e = new GetAttr(e, attr.text(), attr.line());
        } else if (attr.kind() == Kind.INTEGER) {
          e = new GetItem(e, new Literal(Long.parseLong(attr.text())), attr.line());
        } else {
          throw new TemplateSyntaxException("expected an attribute name after '.'", attr.line());
        }
      } else if (t.isOp("[")) {
        next();
        e = parseSubscript(e, t.line());
      } else if (t.isOp("(")) {
        next();
        e = parseCall(e, t.line());
      } else {
        return e;
      }
    }
  }

  private Expr parseSubscript(Expr target, int line) {
    Expr start = null;
    if (!peek().isOp(":")) {
      start = parseExpression();
      if (peek().isOp("]")) {
        next();
        return new GetItem(target, start, line);
      }
    }
    expectOp(":");
    Expr stop = null;
    Expr step = null;
    if (!peek().isOp("]") && !peek().isOp(":")) {
      stop = parseExpression();
    }
    if (peek().isOp(":")) {
      next();
      if (!peek().isOp("]")) {
        step = parseExpression();
      }
    }
    expectOp("]");
    return new Slice(target, start, stop, step);
  }

  private Call parseCall(Expr callee, int line) {
    List<Expr> args = new ArrayList<>();
    List<String> kwNames = new ArrayList<>();
    List<Expr> kwValues = new ArrayList<>();
    parseArguments(args, kwNames, kwValues);
    return new Call(callee, args, kwNames, kwValues, line);
  }

  /** After '(' : positional and keyword arguments up to and including ')'. */
  private void parseArguments(List<Expr> args, List<String> kwNames, List<Expr> kwValues) {
    while (!peek().isOp(")")) {
      if (peek().kind() == Kind.NAME && tokens.get(pos + 1).isOp("=")) {
        kwNames.add(next().text());
        next();
        kwValues.add(parseExpression());
      } else {
        if (!kwNames.isEmpty()) {
          throw new TemplateSyntaxException("positional argument after keyword argument",
              peek().line());
        }
        args.add(parseExpression());
      }
      if (!peek().isOp(")")) {
        expectOp(",");
      }
    }
    next();
  }

  private Expr parseFilterExpr(Expr e) {
    while (true) {
      Token t = peek();
      if (t.isOp("|")) {
        next();
        String name = expectName();
        while (peek().isOp(".")) { // dotted filter names are not used; keep jinja2's shape
          next();
          name += "." + expectName();
        }
        List<Expr> args = new ArrayList<>();
        List<String> kwNames = new ArrayList<>();
        List<Expr> kwValues = new ArrayList<>();
        if (peek().isOp("(")) {
          next();
          parseArguments(args, kwNames, kwValues);
        }
        e = new Filter(e, name, args, kwNames, kwValues, t.line());
      } else if (t.isName("is")) {
        next();
        boolean negated = false;
        if (peek().isName("not")) {
          next();
          negated = true;
        }
        Token nameToken = next();
        String name = nameToken.text();
        if (nameToken.kind() != Kind.NAME
            && !(nameToken.kind() == Kind.OPERATOR && COMPARISONS.contains(name))) {
          throw new TemplateSyntaxException("expected a test name after 'is'", nameToken.line());
        }
        if (nameToken.kind() == Kind.NAME && (name.equals("none") || name.equals("true")
            || name.equals("false"))) {
          name = name.toLowerCase(java.util.Locale.ROOT);
        }
        List<Expr> args = new ArrayList<>();
        if (peek().isOp("(")) {
          next();
          List<String> kwNames = new ArrayList<>();
          List<Expr> kwValues = new ArrayList<>();
          parseArguments(args, kwNames, kwValues);
        } else if (startsTestArgument(peek())) {
          args.add(parsePostfix(parsePrimary()));
        }
        e = new Test(e, name, args, negated, t.line());
      } else {
        return e;
      }
    }
  }

  /** jinja2 allows one argument without parentheses: {@code x is divisibleby 3}. */
  private static boolean startsTestArgument(Token t) {
    return switch (t.kind()) {
      case STRING, INTEGER, FLOAT -> true;
      case NAME -> !Set.of("else", "or", "and", "if", "in", "not", "is").contains(t.text());
      case OPERATOR -> t.text().equals("[") || t.text().equals("{");
      default -> false;
    };
  }

  // --- token helpers ------------------------------------------------------------------------

  private Token peek() {
    return tokens.get(pos);
  }

  private Token next() {
    Token t = tokens.get(pos);
    if (t.kind() != Kind.EOF) {
      pos++;
    }
    return t;
  }

  private void expect(Kind kind, String what) {
    Token t = next();
    if (t.kind() != kind) {
      throw new TemplateSyntaxException("expected " + what + ", got " + t, t.line());
    }
  }

  private void expectOp(String op) {
    Token t = next();
    if (!t.isOp(op)) {
      throw new TemplateSyntaxException("expected '" + op + "', got " + t, t.line());
    }
  }

  private String expectName() {
    Token t = next();
    if (t.kind() != Kind.NAME) {
      throw new TemplateSyntaxException("expected a name, got " + t, t.line());
    }
    return t.text();
  }
}
