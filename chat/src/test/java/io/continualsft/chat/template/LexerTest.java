package io.continualsft.chat.template;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * One small case per lexical feature, as huggingface.js tests its Jinja lexer: the tokens a
 * template becomes, written {@code KIND:text} (tags as their delimiters, the end left out).
 */
class LexerTest {
  static List<String> tokens(String template) {
    return Lexer.tokenize(template).stream()
        .filter(t -> t.kind() != Lexer.Kind.EOF)
        .map(t -> switch (t.kind()) {
          case VAR_BEGIN, VAR_END, BLOCK_BEGIN, BLOCK_END -> t.text();
          default -> t.kind() + ":" + t.text();
        })
        .toList();
  }

  @Test
  void noTemplate() {
    assertThat(tokens("Hello world!")).containsExactly("TEXT:Hello world!");
  }

  @Test
  void textNodes() {
    assertThat(tokens("0{{ 'A' }}1{{ 'B' }}{{ 'C' }}2"))
        .containsExactly("TEXT:0", "{{", "STRING:A", "}}", "TEXT:1", "{{", "STRING:B", "}}", "{{",
            "STRING:C", "}}", "TEXT:2");
  }

  @Test
  void literals() {
    assertThat(tokens("{{ 1 1.5 'a' \"b\" True none }}"))
        .containsExactly("{{", "INTEGER:1", "FLOAT:1.5", "STRING:a", "STRING:b", "NAME:True",
            "NAME:none", "}}");
  }

  @Test
  void stringEscapes() {
    assertThat(tokens("{{ 'it\\'s\\n' }}")).containsExactly("{{", "STRING:it's\n", "}}");
  }

  @Test
  void operatorsLongestFirst() {
    assertThat(tokens("{{ a // b ** c == d != e <= f >= g ~ h }}"))
        .containsExactly("{{", "NAME:a", "OPERATOR://", "NAME:b", "OPERATOR:**", "NAME:c",
            "OPERATOR:==", "NAME:d", "OPERATOR:!=", "NAME:e", "OPERATOR:<=", "NAME:f",
            "OPERATOR:>=", "NAME:g", "OPERATOR:~", "NAME:h", "}}");
  }

  @Test
  void attributeItemAndCall() {
    assertThat(tokens("{{ m.content[0]|trim(x=1) }}"))
        .containsExactly("{{", "NAME:m", "OPERATOR:.", "NAME:content", "OPERATOR:[", "INTEGER:0",
            "OPERATOR:]", "OPERATOR:|", "NAME:trim", "OPERATOR:(", "NAME:x", "OPERATOR:=",
            "INTEGER:1", "OPERATOR:)", "}}");
  }

  @Test
  void blockTags() {
    assertThat(tokens("{% if a %}x{% endif %}"))
        .containsExactly("{%", "NAME:if", "NAME:a", "%}", "TEXT:x", "{%", "NAME:endif", "%}");
  }

  @Test
  void aDictLiteralsClosingBracesDoNotCloseTheTag() {
    assertThat(tokens("{{ {'a': {'b': 1}} }}"))
        .containsExactly("{{", "OPERATOR:{", "STRING:a", "OPERATOR::", "OPERATOR:{", "STRING:b",
            "OPERATOR::", "INTEGER:1", "OPERATOR:}", "OPERATOR:}", "}}");
  }

  @Test
  void trimBlocksRemovesTheNewlineAfterABlockTag() {
    assertThat(tokens("{% if a %}\nx\n{% endif %}\ny"))
        .containsExactly("{%", "NAME:if", "NAME:a", "%}", "TEXT:x\n", "{%", "NAME:endif", "%}",
            "TEXT:y");
  }

  @Test
  void trimBlocksLeavesTheNewlineAfterAVariable() {
    assertThat(tokens("{{ a }}\nx")).containsExactly("{{", "NAME:a", "}}", "TEXT:\nx");
  }

  @Test
  void lstripBlocksRemovesIndentationBeforeABlockTag() {
    assertThat(tokens("x\n    {% if a %}")).containsExactly("TEXT:x\n", "{%", "NAME:if",
        "NAME:a", "%}");
  }

  @Test
  void lstripBlocksKeepsTextBeforeATagOnTheSameLine() {
    assertThat(tokens("x  {% if a %}")).containsExactly("TEXT:x  ", "{%", "NAME:if", "NAME:a",
        "%}");
  }

  @Test
  void minusStripsAllWhitespaceOnItsSide() {
    assertThat(tokens("a \n {%- if b -%} \n c"))
        .containsExactly("TEXT:a", "{%", "NAME:if", "NAME:b", "%}", "TEXT:c");
    assertThat(tokens("a {{- b }} c")).containsExactly("TEXT:a", "{{", "NAME:b", "}}", "TEXT: c");
  }

  @Test
  void plusDisablesLstripAndTrim() {
    assertThat(tokens("  {%+ if a +%}\nx"))
        .containsExactly("TEXT:  ", "{%", "NAME:if", "NAME:a", "%}", "TEXT:\nx");
  }

  @Test
  void commentsVanishAndTrimLikeBlocks() {
    assertThat(tokens("a{# note #}b\n  {# alone #}\nc"))
        .containsExactly("TEXT:a", "TEXT:b\n", "TEXT:c");
  }

  @Test
  void rawKeepsItsBodyVerbatim() {
    assertThat(tokens("{% raw %}{{ x }}{% if %}{% endraw %}"))
        .containsExactly("TEXT:{{ x }}{% if %}");
  }

  @Test
  void oneTrailingNewlineOfTheSourceIsDropped() {
    assertThat(tokens("x\n\n")).containsExactly("TEXT:x\n");
    assertThat(tokens("x\r\ny\r\n")).containsExactly("TEXT:x\ny");
  }

  @Test
  void tokensKnowTheirLine() {
    List<Lexer.Token> t = Lexer.tokenize("a\nb\n{{ x }}\n{% if\ny %}");
    assertThat(t.stream().filter(x -> x.kind() == Lexer.Kind.NAME).map(Lexer.Token::line))
        .containsExactly(3, 4, 5);
  }

  @Test
  void unclosedTagsAndCommentsAreSyntaxErrorsWithTheirLine() {
    assertThatThrownBy(() -> Lexer.tokenize("x\n{{ a"))
        .isInstanceOf(TemplateSyntaxException.class).hasMessageContaining("}}");
    assertThatThrownBy(() -> Lexer.tokenize("{# never closed"))
        .isInstanceOf(TemplateSyntaxException.class).hasMessageContaining("comment");
    assertThatThrownBy(() -> Lexer.tokenize("{% raw %}forever"))
        .isInstanceOf(TemplateSyntaxException.class).hasMessageContaining("raw");
  }
}
