package io.continualsft.chat.template;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.continualsft.chat.template.Ast.Binary;
import io.continualsft.chat.template.Ast.Call;
import io.continualsft.chat.template.Ast.Cond;
import io.continualsft.chat.template.Ast.Expr;
import io.continualsft.chat.template.Ast.Filter;
import io.continualsft.chat.template.Ast.For;
import io.continualsft.chat.template.Ast.GetAttr;
import io.continualsft.chat.template.Ast.GetItem;
import io.continualsft.chat.template.Ast.If;
import io.continualsft.chat.template.Ast.ListExpr;
import io.continualsft.chat.template.Ast.Literal;
import io.continualsft.chat.template.Ast.Macro;
import io.continualsft.chat.template.Ast.Name;
import io.continualsft.chat.template.Ast.Node;
import io.continualsft.chat.template.Ast.Output;
import io.continualsft.chat.template.Ast.Set;
import io.continualsft.chat.template.Ast.Slice;
import io.continualsft.chat.template.Ast.Test;
import io.continualsft.chat.template.Ast.Text;
import io.continualsft.chat.template.Ast.Unary;
import java.util.List;

/** One small case per syntactic feature: the tree a template parses to. */
class ParserTest {
  static List<Node> parse(String template) {
    return Parser.parse(template);
  }

  /** The expression of a template that is one {@code {{ ... }}}. */
  static Expr expr(String expression) {
    List<Node> nodes = parse("{{ " + expression + " }}");
    assertThat(nodes).hasSize(1);
    return ((Output) nodes.getFirst()).expr();
  }

  static Object literal(Expr e) {
    return ((Literal) e).value();
  }

  static String name(Expr e) {
    return ((Name) e).name();
  }

  @org.junit.jupiter.api.Test
  void textAndOutput() {
    List<Node> nodes = parse("a{{ x }}b");
    assertThat(nodes).hasSize(3);
    assertThat(((Text) nodes.get(0)).text()).isEqualTo("a");
    assertThat(name(((Output) nodes.get(1)).expr())).isEqualTo("x");
    assertThat(((Text) nodes.get(2)).text()).isEqualTo("b");
  }

  @org.junit.jupiter.api.Test
  void literalsArePythonValues() {
    assertThat(literal(expr("1"))).isEqualTo(1L);
    assertThat(literal(expr("1.5"))).isEqualTo(1.5);
    assertThat(literal(expr("'s'"))).isEqualTo("s");
    assertThat(literal(expr("True"))).isEqualTo(true);
    assertThat(literal(expr("false"))).isEqualTo(false);
    assertThat(literal(expr("None"))).isNull();
    assertThat(((ListExpr) expr("[1, 2]")).items()).hasSize(2);
    assertThat(((ListExpr) expr("[1, 2]")).tuple()).isFalse();
    assertThat(((ListExpr) expr("(1, 2)")).tuple()).isTrue();
    assertThat(((ListExpr) expr("()")).tuple()).isTrue();
    assertThat(literal(expr("(1)"))).as("parentheses alone make no tuple").isEqualTo(1L);
  }

  @org.junit.jupiter.api.Test
  void multiplicationBindsTighterThanAddition() {
    Binary plus = (Binary) expr("1 + 2 * 3");
    assertThat(plus.op()).isEqualTo("+");
    assertThat(literal(plus.left())).isEqualTo(1L);
    assertThat(((Binary) plus.right()).op()).isEqualTo("*");
  }

  @org.junit.jupiter.api.Test
  void powerIsLeftAssociativeAsInJinjaAndConcatenationLoose() {
    // Jinja, unlike Python, reads 2 ** 3 ** 2 as (2 ** 3) ** 2.
    Binary pow = (Binary) expr("2 ** 3 ** 2");
    assertThat(((Binary) pow.left()).op()).isEqualTo("**");
    assertThat(literal(pow.right())).isEqualTo(2L);
    // ~ binds tighter than + and - but looser than * and /, as in jinja2.
    Binary tilde = (Binary) expr("'a' ~ 2 * 3");
    assertThat(tilde.op()).isEqualTo("~");
    assertThat(((Binary) tilde.right()).op()).isEqualTo("*");
    Binary plus = (Binary) expr("1 ~ 2 + 3");
    assertThat(plus.op()).isEqualTo("+");
    assertThat(((Binary) plus.left()).op()).isEqualTo("~");
  }

  @org.junit.jupiter.api.Test
  void notBindsTighterThanAndThanOr() {
    Binary or = (Binary) expr("not a and b or c");
    assertThat(or.op()).isEqualTo("or");
    Binary and = (Binary) or.left();
    assertThat(and.op()).isEqualTo("and");
    assertThat(((Unary) and.left()).op()).isEqualTo("not");
  }

  @org.junit.jupiter.api.Test
  void membershipAndComparison() {
    assertThat(((Binary) expr("a not in b")).op()).isEqualTo("not in");
    assertThat(((Binary) expr("a in b")).op()).isEqualTo("in");
    assertThat(((Binary) expr("a <= b")).op()).isEqualTo("<=");
  }

  @org.junit.jupiter.api.Test
  void postfixChainsApplyLeftToRight() {
    GetItem item = (GetItem) expr("m.content[0]");
    GetAttr attr = (GetAttr) item.target();
    assertThat(attr.name()).isEqualTo("content");
    assertThat(name(attr.target())).isEqualTo("m");
    assertThat(literal(item.index())).isEqualTo(0L);
  }

  @org.junit.jupiter.api.Test
  void slicesKeepTheirMissingParts() {
    Slice reversed = (Slice) expr("messages[::-1]");
    assertThat(reversed.start()).isNull();
    assertThat(reversed.stop()).isNull();
    assertThat(((Unary) reversed.step()).op()).isEqualTo("-");
    Slice tail = (Slice) expr("s[1:]");
    assertThat(literal(tail.start())).isEqualTo(1L);
    assertThat(tail.stop()).isNull();
  }

  @org.junit.jupiter.api.Test
  void callsTakePositionalAndKeywordArguments() {
    Call call = (Call) expr("f(1, x=2)");
    assertThat(name(call.callee())).isEqualTo("f");
    assertThat(call.args()).hasSize(1);
    assertThat(call.kwNames()).containsExactly("x");
  }

  @org.junit.jupiter.api.Test
  void filtersChainAndTakeArguments() {
    Filter outer = (Filter) expr("x | map(attribute='name') | join(', ')");
    assertThat(outer.name()).isEqualTo("join");
    assertThat(literal(outer.args().getFirst())).isEqualTo(", ");
    Filter inner = (Filter) outer.value();
    assertThat(inner.name()).isEqualTo("map");
    assertThat(inner.kwNames()).containsExactly("attribute");
  }

  @org.junit.jupiter.api.Test
  void filtersBindTighterThanArithmetic() {
    Binary minus = (Binary) expr("messages | length - 1");
    assertThat(minus.op()).isEqualTo("-");
    assertThat(((Filter) minus.left()).name()).isEqualTo("length");
  }

  @org.junit.jupiter.api.Test
  void testsWithNegationAndArgumentsWithoutParentheses() {
    Test t = (Test) expr("x is not divisibleby 3");
    assertThat(t.name()).isEqualTo("divisibleby");
    assertThat(t.negated()).isTrue();
    assertThat(literal(t.args().getFirst())).isEqualTo(3L);
    assertThat(((Test) expr("x is defined")).args()).isEmpty();
  }

  @org.junit.jupiter.api.Test
  void conditionalExpressionsMayLackAnElse() {
    Cond c = (Cond) expr("'y' if a else 'n'");
    assertThat(name(c.test())).isEqualTo("a");
    assertThat(((Cond) expr("'y' if a")).otherwise()).isNull();
  }

  @org.junit.jupiter.api.Test
  void ifWithElifAndElse() {
    If node = (If) parse("{% if a %}1{% elif b %}2{% else %}3{% endif %}").getFirst();
    assertThat(node.tests()).hasSize(2);
    assertThat(node.bodies()).hasSize(2);
    assertThat(node.elseBody()).hasSize(1);
  }

  @org.junit.jupiter.api.Test
  void forWithUnpackingAFilterAndElse() {
    For node = (For) parse("{% for k, v in d.items() if v %}x{% else %}y{% endfor %}")
        .getFirst();
    assertThat(node.targets()).containsExactly("k", "v");
    assertThat(name(node.filter())).isEqualTo("v");
    assertThat(node.elseBody()).hasSize(1);
  }

  @org.junit.jupiter.api.Test
  void setOfANamesATupleAndANamespaceAttribute() {
    assertThat(((Set) parse("{% set x = 1 %}").getFirst()).targets()).containsExactly("x");
    Set pair = (Set) parse("{% set a, b = 1, 2 %}").getFirst();
    assertThat(pair.targets()).containsExactly("a", "b");
    assertThat(((ListExpr) pair.value()).tuple()).isTrue();
    Set ns = (Set) parse("{% set ns.count = ns.count + 1 %}").getFirst();
    assertThat(ns.targets()).containsExactly("ns");
    assertThat(ns.namespaceAttr()).isEqualTo("count");
  }

  @org.junit.jupiter.api.Test
  void macroWithDefaults() {
    Macro m = (Macro) parse("{% macro tag(name, value='none') %}x{% endmacro %}").getFirst();
    assertThat(m.name()).isEqualTo("tag");
    assertThat(m.params()).containsExactly("name", "value");
    assertThat(m.defaults()).hasSize(2);
    assertThat(m.defaults().get(0)).as("no default").isNull();
    assertThat(literal(m.defaults().get(1))).isEqualTo("none");
  }

  @org.junit.jupiter.api.Test
  void blockStatementsParse() {
    assertThat(parse("{% for x in y %}{% break %}{% continue %}{% endfor %}")).hasSize(1);
    assertThat(parse("{% filter upper %}x{% endfilter %}").getFirst())
        .isInstanceOf(Ast.FilterBlock.class);
    assertThat(parse("{% generation %}x{% endgeneration %}").getFirst())
        .isInstanceOf(Ast.Generation.class);
    assertThat(parse("{% set s %}x{% endset %}").getFirst()).isInstanceOf(Ast.SetBlock.class);
  }

  @org.junit.jupiter.api.Test
  void syntaxErrorsNameTheProblemAndTheLine() {
    assertThatThrownBy(() -> parse("a\n{% if x %}never closed"))
        .isInstanceOf(TemplateSyntaxException.class).hasMessageContaining("line");
    assertThatThrownBy(() -> parse("{% endfor %}")).isInstanceOf(TemplateSyntaxException.class);
    assertThatThrownBy(() -> parse("{{ 1 + }}")).isInstanceOf(TemplateSyntaxException.class);
    assertThatThrownBy(() -> parse("{% include 'other.jinja' %}"))
        .as("outside the supported subset: refused, never ignored")
        .isInstanceOf(TemplateSyntaxException.class);
  }
}
