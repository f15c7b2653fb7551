package io.continualsft.chat.template;

import java.util.List;

/** The parsed template: statements ({@link Node}) holding expressions ({@link Expr}). */
final class Ast {
  private Ast() {}

  sealed interface Node
      permits Text, Output, If, For, Set, SetBlock, Macro, Break, Continue, FilterBlock,
          Generation {}

  record Text(String text) implements Node {}

  record Output(Expr expr, int line) implements Node {}

  record If(List<Expr> tests, List<List<Node>> bodies, List<Node> elseBody) implements Node {}

  record For(List<String> targets, Expr iterable, Expr filter, List<Node> body,
      List<Node> elseBody, int line) implements Node {}

  /** {@code set a = x}, {@code set a, b = x}, or {@code set ns.attr = x} (namespace). */
  record Set(List<String> targets, String namespaceAttr, Expr value, int line) implements Node {}

  record SetBlock(String target, List<Node> body) implements Node {}

  record Macro(String name, List<String> params, List<Expr> defaults, List<Node> body)
      implements Node {}

  record Break() implements Node {}

  record Continue() implements Node {}

  record FilterBlock(String filter, List<Expr> args, List<Node> body, int line) implements Node {}

  /** transformers' {@code {% generation %}} block: rendered as its body. */
  record Generation(List<Node> body) implements Node {}


  sealed interface Expr
      permits Literal, Name, ListExpr, DictExpr, GetAttr, GetItem, Slice, Call, Filter, Test,
          Unary, Binary, Cond {}

  record Literal(Object value) implements Expr {}

  record Name(String name, int line) implements Expr {}

  /** A list display, or a tuple ({@code (a, b)}, {@code set t = a, b}). */
  record ListExpr(List<Expr> items, boolean tuple) implements Expr {}

  record DictExpr(List<Expr> keys, List<Expr> values) implements Expr {}

  record GetAttr(Expr target, String name, int line) implements Expr {}

  record GetItem(Expr target, Expr index, int line) implements Expr {}

  record Slice(Expr target, Expr start, Expr stop, Expr step) implements Expr {}

  record Call(Expr callee, List<Expr> args, List<String> kwNames, List<Expr> kwValues, int line)
      implements Expr {}

  record Filter(Expr value, String name, List<Expr> args, List<String> kwNames,
      List<Expr> kwValues, int line) implements Expr {}

  record Test(Expr value, String name, List<Expr> args, boolean negated, int line)
      implements Expr {}

  record Unary(String op, Expr operand) implements Expr {}

  record Binary(String op, Expr left, Expr right, int line) implements Expr {}

  /** {@code then if test else otherwise}; {@code otherwise} may be null (undefined). */
  record Cond(Expr test, Expr then, Expr otherwise) implements Expr {}
}
