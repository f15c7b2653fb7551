package io.continualsft.trainer.report;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.xpath.XPathConstants;
import javax.xml.xpath.XPathFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.NodeList;

/** The report parses, and its charts hold the run's numbers, decisions and reasons. */
class RunReportHtmlTest {
  static final RunReport SMALL = new RunReport("adapter <acme> & co", List.of("model m", "lr 0.02"),
      List.of(new RunReport.Step(1, 11.5, 100), new RunReport.Step(2, 9.25, 150),
          new RunReport.Step(3, 4.125, 180)),
      List.of(new RunReport.Checkpoint("v1", 2, 6.5, 7.0, RunReport.Decision.RELEASED,
              "eval loss 6.5 <= 12 (base model)", 10, 0),
          new RunReport.Checkpoint("v2", 3, 6.75, Double.NaN, RunReport.Decision.REFUSED,
              "eval loss 6.75 > 6.5 (release v1)", 15, 4),
          new RunReport.Checkpoint("v3", 3, 3.0, 2.5, RunReport.Decision.HELD,
              "release held at v1", 15, 4)),
      Map.of("TOKENIZER_MISMATCH", 2L, "INVALID_ID", 5L));

  private static Document parse(String html) throws Exception {
    return DocumentBuilderFactory.newInstance().newDocumentBuilder()
        .parse(new ByteArrayInputStream(html.getBytes(StandardCharsets.UTF_8)));
  }

  private static List<String> values(Document doc, String xpath) throws Exception {
    NodeList nodes = (NodeList) XPathFactory.newInstance().newXPath().evaluate(xpath, doc,
        XPathConstants.NODESET);
    List<String> out = new ArrayList<>();
    for (int i = 0; i < nodes.getLength(); i++) {
      out.add(nodes.item(i).getNodeValue() != null ? nodes.item(i).getNodeValue()
          : nodes.item(i).getTextContent());
    }
    return out;
  }

  @Test
  void theChartsHoldTheRunsPointsWithTheirDecisionsAndReasons() throws Exception {
    String html = RunReportHtml.render(SMALL);
    Document doc = parse(html);
    assertThat(values(doc, "/html/head/title")).containsExactly("adapter <acme> & co");
    assertThat(values(doc, "//*[@id='train-loss']//*[@class='point']/@data-value"))
        .containsExactly("11.5", "9.25", "4.125");
    assertThat(values(doc, "//*[@id='throughput']//*[@class='point']/@data-value"))
        .containsExactly("100", "150", "180");
    assertThat(values(doc, "//*[@id='checkpoint-loss']//*[@data-series='held-out (eval) loss']"
        + "/@data-decision")).containsExactly("released", "refused", "held");
    assertThat(values(doc, "//*[@id='checkpoint-loss']//*[@data-series='retention loss']"
        + "/@data-value")).as("a missing loss is no point").containsExactly("7", "2.5");
    assertThat(values(doc, "//*[@id='checkpoint-loss']//*[@data-decision='refused']/*[local-name()"
        + "='title']")).containsExactly("v2 (step 3): eval loss 6.75; refused: eval loss 6.75 >"
            + " 6.5 (release v1)");
    assertThat(values(doc, "//*[@id='examples']//*[@data-series='replayed']/@data-value"))
        .containsExactly("0", "4", "4");
    assertThat(values(doc, "//*[@id='dead-letters']//*[@class='point']/@data-series"))
        .as("largest first").containsExactly("INVALID_ID", "TOKENIZER_MISMATCH");
    assertThat(values(doc, "//table[@id='checkpoints']//tr/td[1]"))
        .containsExactly("v1", "v2", "v3");
    assertThat(html).as("nothing loaded from anywhere").doesNotContain("<script", "src=", "href=", "url(", "@import")
        .contains("xmlns=\"http://www.w3.org/2000/svg\"");
  }

  @Test
  void aRunWithoutStepsOrDeadLettersSaysSo() throws Exception {
    Document doc = parse(RunReportHtml.render(new RunReport("empty", List.of(), List.of(),
        List.of(), Map.of())));
    assertThat(values(doc, "//*[@class='legend']")).containsExactly("no data", "no data",
        "no data", "no data", "none");
  }
}
