package io.continualsft.trainer.report;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * A {@link RunReport} as one self-contained HTML file: inline SVG charts, no script, no
 * stylesheet or font from anywhere, so it opens offline and can be mailed or attached to a
 * ticket. It is also well-formed XML (every element closed), so a test or a tool reads it with
 * the JDK's own parser. Every point carries its numbers in a {@code <title>} (shown on hover) and a {@code
 * data-value} attribute (read by tests and tools).
 *
 * <p>Written by hand rather than with a charting library: five plain charts are some 200 lines
 * of SVG, where a library means vendoring JavaScript into every report.
 */
public final class RunReportHtml {
  private static final int W = 640;
  private static final int H = 220;
  private static final int PAD_LEFT = 56;
  private static final int PAD_RIGHT = 16;
  private static final int PAD_TOP = 16;
  private static final int PAD_BOTTOM = 36;

  private RunReportHtml() {}

  /** Writes the report to {@code file} (its directory created), UTF-8. */
  public static Path write(RunReport report, Path file) {
    try {
      if (file.toAbsolutePath().getParent() != null) {
        Files.createDirectories(file.toAbsolutePath().getParent());
      }
      Files.writeString(file, render(report), StandardCharsets.UTF_8);
      return file;
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException("cannot write the report " + file, e);
    }
  }

  public static String render(RunReport r) {
    StringBuilder h = new StringBuilder();
    h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>")
        .append("<title>").append(esc(r.title())).append("</title>\n<style>")
        .append("body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1360px}")
        .append("h1{font-size:20px}h2{font-size:15px;margin:18px 0 4px}")
        .append(".grid{display:flex;flex-wrap:wrap;gap:16px}.card{border:1px solid #ddd;")
        .append("border-radius:6px;padding:8px 12px}.facts{color:#555;font-size:13px}")
        .append("svg text{font-size:11px;fill:#444}.legend{font-size:12px;color:#444}")
        .append("</style></head><body>\n<h1>").append(esc(r.title())).append("</h1>\n");
    h.append("<div class=\"facts\">");
    for (String fact : r.facts()) {
      h.append(esc(fact)).append("<br/>");
    }
    h.append("</div>\n<div class=\"grid\">\n");
    List<RunReport.Step> steps = r.steps();
    card(h, "Training loss per step", steps.isEmpty() ? null : lineChart("train-loss",
        List.of(new Series("loss", "#1f77b4", points(steps, RunReport.Step::step,
            RunReport.Step::loss, s -> "step " + s.step() + ": loss " + num(s.loss())))),
        "step", null));
    List<RunReport.Checkpoint> cps = r.checkpoints();
    card(h, "Held-out and retention loss per checkpoint", cps.isEmpty() ? null
        : lineChart("checkpoint-loss", List.of(
            new Series("held-out (eval) loss", "#ff7f0e", checkpointPoints(cps,
                RunReport.Checkpoint::evalLoss, "eval loss")),
            new Series("retention loss", "#2ca02c", checkpointPoints(cps,
                RunReport.Checkpoint::retentionLoss, "retention loss"))),
            "step", decisionLegend()));
    card(h, "New and replayed examples (cumulative)", cps.isEmpty() ? null
        : lineChart("examples", List.of(
            new Series("new", "#1f77b4", points(cps, RunReport.Checkpoint::step,
                c -> c.examplesTrained(), c -> c.label() + ": " + c.examplesTrained()
                    + " new examples")),
            new Series("replayed", "#9467bd", points(cps, RunReport.Checkpoint::step,
                c -> c.examplesReplayed(), c -> c.label() + ": " + c.examplesReplayed()
                    + " replayed examples"))), "step", null));
    card(h, "Throughput (trained tokens/s)", steps.isEmpty() ? null : lineChart("throughput",
        List.of(new Series("tokens/s", "#8c564b", points(steps, RunReport.Step::step,
            RunReport.Step::tokensPerSecond, s -> "step " + s.step() + ": "
                + num(s.tokensPerSecond()) + " tokens/s"))), "step", null));
    card(h, "Dead letters by reason", barChart(r.deadLetters()));
    h.append("</div>\n");
    h.append("<h2>Checkpoints</h2>\n<table id=\"checkpoints\" style=\"border-collapse:collapse;")
        .append("font-size:13px\"><tr><th align=\"left\">checkpoint</th><th>step</th>")
        .append("<th>eval loss</th><th>retention loss</th><th>decision</th>")
        .append("<th align=\"left\">reason</th></tr>\n");
    for (RunReport.Checkpoint c : cps) {
      h.append("<tr><td>").append(esc(c.label())).append("</td><td align=\"right\">")
          .append(c.step()).append("</td><td align=\"right\">").append(num(c.evalLoss()))
          .append("</td><td align=\"right\">").append(num(c.retentionLoss()))
          .append("</td><td>").append(c.decision().name().toLowerCase(Locale.ROOT))
          .append("</td><td>").append(esc(c.reason())).append("</td></tr>\n");
    }
    h.append("</table>\n</body></html>\n");
    return h.toString();
  }

  /** A point: where it is, and what its tooltip says. */
  record Point(double x, double y, String title, RunReport.Decision decision) {}

  record Series(String name, String color, List<Point> points) {}

  private static <T> List<Point> points(List<T> items, ToDoubleFunction<T> x,
      ToDoubleFunction<T> y, java.util.function.Function<T, String> title) {
    List<Point> out = new ArrayList<>();
    for (T item : items) {
      out.add(new Point(x.applyAsDouble(item), y.applyAsDouble(item), title.apply(item), null));
    }
    return out;
  }

  private static List<Point> checkpointPoints(List<RunReport.Checkpoint> cps,
      ToDoubleFunction<RunReport.Checkpoint> y, String what) {
    List<Point> out = new ArrayList<>();
    for (RunReport.Checkpoint c : cps) {
      out.add(new Point(c.step(), y.applyAsDouble(c), c.label() + " (step " + c.step() + "): "
          + what + " " + num(y.applyAsDouble(c)) + "; "
          + c.decision().name().toLowerCase(Locale.ROOT) + (c.reason().isEmpty() ? ""
              : ": " + c.reason()), c.decision()));
    }
    return out;
  }

  private static String decisionLegend() {
    return "markers: ● released, ✕ refused, ◆ held, ○ not judged, ▲ revoked (hover for the"
        + " reason)";
  }

  private static void card(StringBuilder h, String title, String body) {
    h.append("<div class=\"card\"><h2>").append(esc(title)).append("</h2>")
        .append(body == null ? "<p class=\"legend\">no data</p>" : body).append("</div>\n");
  }

  private static String lineChart(String id, List<Series> series, String xLabel,
      String legend) {
    double minX = Double.POSITIVE_INFINITY;
    double maxX = Double.NEGATIVE_INFINITY;
    double minY = Double.POSITIVE_INFINITY;
    double maxY = Double.NEGATIVE_INFINITY;
    for (Series s : series) {
      for (Point p : s.points()) {
        if (!Double.isFinite(p.y())) {
          continue;
        }
        minX = Math.min(minX, p.x());
        maxX = Math.max(maxX, p.x());
        minY = Math.min(minY, p.y());
        maxY = Math.max(maxY, p.y());
      }
    }
    if (!Double.isFinite(minX)) {
      return null;
    }
    minY = Math.min(0, minY);
    if (maxY <= minY) {
      maxY = minY + 1;
    }
    if (maxX <= minX) {
      maxX = minX + 1;
    }
    double fx0 = minX;
    double fx1 = maxX;
    double fy0 = minY;
    double fy1 = maxY;
    java.util.function.DoubleUnaryOperator sx = x -> PAD_LEFT + (x - fx0) / (fx1 - fx0)
        * (W - PAD_LEFT - PAD_RIGHT);
    java.util.function.DoubleUnaryOperator sy = y -> H - PAD_BOTTOM - (y - fy0) / (fy1 - fy0)
        * (H - PAD_TOP - PAD_BOTTOM);
    StringBuilder svg = new StringBuilder();
    svg.append("<svg id=\"").append(id).append("\" width=\"").append(W).append("\" height=\"")
        .append(H).append("\" viewBox=\"0 0 ").append(W).append(' ').append(H)
        .append("\" xmlns=\"http://www.w3.org/2000/svg\">");
    // axes and ticks
    svg.append(line(PAD_LEFT, H - PAD_BOTTOM, W - PAD_RIGHT, H - PAD_BOTTOM, "#999"))
        .append(line(PAD_LEFT, PAD_TOP, PAD_LEFT, H - PAD_BOTTOM, "#999"));
    for (int t = 0; t <= 4; t++) {
      double y = fy0 + (fy1 - fy0) * t / 4;
      double py = sy.applyAsDouble(y);
      svg.append(line(PAD_LEFT - 3, py, W - PAD_RIGHT, py, "#eee"))
          .append(text(PAD_LEFT - 6, py + 4, num(y), "end"));
      double x = fx0 + (fx1 - fx0) * t / 4;
      if (fx1 - fx0 >= 4) {
        x = Math.rint(x); // steps are whole
      }
      svg.append(text(sx.applyAsDouble(x), H - PAD_BOTTOM + 14, num(x), "middle"));
    }
    svg.append(text((PAD_LEFT + W - PAD_RIGHT) / 2.0, H - 6, xLabel, "middle"));
    int legendX = PAD_LEFT + 8;
    for (Series s : series) {
      StringBuilder path = new StringBuilder();
      for (Point p : s.points()) {
        if (Double.isFinite(p.y())) {
          path.append(path.isEmpty() ? "M" : " L").append(fmt(sx.applyAsDouble(p.x())))
              .append(',').append(fmt(sy.applyAsDouble(p.y())));
        }
      }
      svg.append("<path d=\"").append(path).append("\" fill=\"none\" stroke=\"")
          .append(s.color()).append("\" stroke-width=\"1.5\"/>");
      for (Point p : s.points()) {
        if (!Double.isFinite(p.y())) {
          continue;
        }
        svg.append(marker(sx.applyAsDouble(p.x()), sy.applyAsDouble(p.y()), s, p));
      }
      svg.append("<rect x=\"").append(legendX).append("\" y=\"").append(PAD_TOP - 10)
          .append("\" width=\"10\" height=\"3\" fill=\"").append(s.color()).append("\"/>")
          .append(text(legendX + 14, PAD_TOP - 6, s.name(), "start"));
      legendX += 14 + 7 * s.name().length() + 16;
    }
    svg.append("</svg>");
    return svg + (legend == null ? "" : "<div class=\"legend\">" + esc(legend) + "</div>");
  }

  /** A point's mark: its decision's shape where it has one, a dot otherwise; hover: title. */
  private static String marker(double x, double y, Series s, Point p) {
    String data = "<title>" + esc(p.title()) + "</title>";
    String attrs = " class=\"point\" data-series=\"" + esc(s.name()) + "\" data-x=\""
        + num(p.x()) + "\" data-value=\"" + num(p.y()) + "\"" + (p.decision() == null ? ""
            : " data-decision=\"" + p.decision().name().toLowerCase(Locale.ROOT) + "\"");
    String c = s.color();
    if (p.decision() == null) {
      return "<circle cx=\"" + fmt(x) + "\" cy=\"" + fmt(y) + "\" r=\"2\" fill=\"" + c + "\""
          + attrs + ">" + data + "</circle>";
    }
    return switch (p.decision()) {
      case RELEASED -> "<circle cx=\"" + fmt(x) + "\" cy=\"" + fmt(y) + "\" r=\"5\" fill=\""
          + c + "\"" + attrs + ">" + data + "</circle>";
      case REFUSED -> "<path d=\"M" + fmt(x - 5) + "," + fmt(y - 5) + " L" + fmt(x + 5) + ","
          + fmt(y + 5) + " M" + fmt(x - 5) + "," + fmt(y + 5) + " L" + fmt(x + 5) + ","
          + fmt(y - 5) + "\" stroke=\"#d62728\" stroke-width=\"2.5\"" + attrs + ">" + data
          + "</path>";
      case HELD -> "<path d=\"M" + fmt(x) + "," + fmt(y - 6) + " L" + fmt(x + 6) + "," + fmt(y)
          + " L" + fmt(x) + "," + fmt(y + 6) + " L" + fmt(x - 6) + "," + fmt(y) + " Z\" fill=\""
          + "#7f7f7f\"" + attrs + ">" + data + "</path>";
      case REVOKED -> "<path d=\"M" + fmt(x) + "," + fmt(y - 6) + " L" + fmt(x + 6) + ","
          + fmt(y + 5) + " L" + fmt(x - 6) + "," + fmt(y + 5) + " Z\" fill=\"#000\"" + attrs
          + ">" + data + "</path>";
      case NOT_JUDGED -> "<circle cx=\"" + fmt(x) + "\" cy=\"" + fmt(y) + "\" r=\"5\" fill=\""
          + "white\" stroke=\"" + c + "\"" + attrs + ">" + data + "</circle>";
    };
  }

  private static String barChart(Map<String, Long> counts) {
    if (counts.isEmpty()) {
      return "<p class=\"legend\" id=\"dead-letters\">none</p>";
    }
    List<Map.Entry<String, Long>> rows = new ArrayList<>(counts.entrySet());
    rows.sort(Map.Entry.<String, Long>comparingByValue().reversed()
        .thenComparing(Map.Entry.comparingByKey()));
    long max = rows.getFirst().getValue();
    int rowH = 20;
    int height = PAD_TOP + rows.size() * rowH + 8;
    int labelW = 230;
    StringBuilder svg = new StringBuilder("<svg id=\"dead-letters\" width=\"" + W
        + "\" height=\"" + height + "\" xmlns=\"http://www.w3.org/2000/svg\">");
    int y = PAD_TOP;
    for (Map.Entry<String, Long> e : rows) {
      double w = max == 0 ? 0 : (W - labelW - 60.0) * e.getValue() / max;
      svg.append(text(labelW - 6, y + 13, e.getKey(), "end"))
          .append("<rect class=\"point\" data-series=\"").append(esc(e.getKey()))
          .append("\" data-value=\"").append(e.getValue()).append("\" x=\"").append(labelW)
          .append("\" y=\"").append(y + 3).append("\" width=\"").append(fmt(Math.max(1, w)))
          .append("\" height=\"14\" fill=\"#d62728\"><title>").append(esc(e.getKey()))
          .append(": ").append(e.getValue()).append("</title></rect>")
          .append(text(labelW + w + 6, y + 14, String.valueOf(e.getValue()), "start"));
      y += rowH;
    }
    return svg.append("</svg>").toString();
  }

  private static String line(double x1, double y1, double x2, double y2, String color) {
    return "<line x1=\"" + fmt(x1) + "\" y1=\"" + fmt(y1) + "\" x2=\"" + fmt(x2) + "\" y2=\""
        + fmt(y2) + "\" stroke=\"" + color + "\"/>";
  }

  private static String text(double x, double y, String s, String anchor) {
    return "<text x=\"" + fmt(x) + "\" y=\"" + fmt(y) + "\" text-anchor=\"" + anchor + "\">"
        + esc(s) + "</text>";
  }

  private static String fmt(double v) {
    return String.format(Locale.ROOT, "%.1f", v);
  }

  /** A number as a person reads it: whole numbers whole, others to four significant digits. */
  static String num(double v) {
    if (!Double.isFinite(v)) {
      return "n/a";
    }
    if (v == Math.rint(v) && Math.abs(v) < 1e15) {
      return String.valueOf((long) v);
    }
    return new java.math.BigDecimal(v).round(new java.math.MathContext(4)).stripTrailingZeros()
        .toPlainString();
  }

  /** Text for HTML content and attributes. */
  static String esc(String s) {
    StringBuilder out = new StringBuilder(s.length());
    for (char c : s.toCharArray()) {
      switch (c) {
        case '<' -> out.append("&lt;");
        case '>' -> out.append("&gt;");
        case '&' -> out.append("&amp;");
        case '"' -> out.append("&quot;");
        case '\'' -> out.append("&#39;");
        default -> out.append(c);
      }
    }
    return out.toString();
  }
}
