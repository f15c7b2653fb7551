package io.continualsft.chat.dataset;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** JSONL or one JSON array, plain or gzip: every record with its line, every bad one with why. */
class DatasetFileTest {
  @TempDir Path dir;

  private static final String A = "{\"id\": \"a\", \"messages\": []}";
  private static final String B = "{\"id\": \"b\", \"messages\": []}";

  private List<String> entries(Path file) throws IOException {
    List<String> out = new ArrayList<>();
    try (DatasetFile in = DatasetFile.open(file)) {
      DatasetFile.Entry e;
      while ((e = in.next()) != null) {
        out.add(e.line() + ": " + (e.error() != null ? e.error() : e.node().get("id").asText()));
      }
    }
    return out;
  }

  private Path write(String name, byte[] bytes, boolean gzip) throws IOException {
    Path file = dir.resolve(name);
    try (OutputStream out = gzip ? new GZIPOutputStream(Files.newOutputStream(file))
        : Files.newOutputStream(file)) {
      out.write(bytes);
    }
    return file;
  }

  @Test
  void jsonLinesReportEveryLineThatIsNotARecord() throws IOException {
    byte[] bad = {'{', '"', 'x', '"', ':', ' ', '"', (byte) 0xC3, '"', '}'};
    byte[] text = (A + "\n\n[1]\n{\"id\": \n").getBytes(StandardCharsets.UTF_8);
    byte[] all = new byte[text.length + bad.length + 1 + B.length() + 1];
    System.arraycopy(text, 0, all, 0, text.length);
    System.arraycopy(bad, 0, all, text.length, bad.length);
    all[text.length + bad.length] = '\n';
    System.arraycopy(B.getBytes(StandardCharsets.UTF_8), 0, all, text.length + bad.length + 1,
        B.length());
    all[all.length - 1] = '\n';
    assertThat(entries(write("a.jsonl", all, false))).containsExactly("1: a", "2: blank",
        "3: not a JSON object",
        "4: not valid JSON (Unexpected end-of-input within/between Object entries)",
        "5: not valid UTF-8", "6: b");
  }

  @Test
  void gzipIsToldByItsBytesNotItsName() throws IOException {
    Path file = write("data.jsonl", (A + "\r\n" + B).getBytes(StandardCharsets.UTF_8), true);
    try (DatasetFile in = DatasetFile.open(file)) {
      assertThat(in.gzip()).isTrue();
      assertThat(in.jsonArray()).isFalse();
    }
    assertThat(entries(file)).containsExactly("1: a", "2: b");
  }

  @Test
  void aJsonArrayGivesEachElementTheLineItStartsOn() throws IOException {
    Path file = write("data.json.gz", ("\uFEFF  [\n" + A + ",\n  7,\n\n" + B.replace(", ", ",\n")
        + "\n]\n").getBytes(StandardCharsets.UTF_8), true);
    try (DatasetFile in = DatasetFile.open(file)) {
      assertThat(in.jsonArray()).isTrue();
    }
    assertThat(entries(file)).containsExactly("2: a", "3: not a JSON object", "5: b");
  }

  @Test
  void aSyntaxErrorInsideAnElementIsThatElementsReasonAndTheArrayGoesOn() throws IOException {
    Path file = write("broken.json", ("[" + A + ",\n" + "{\"id\": }\n, " + B + "]")
        .getBytes(StandardCharsets.UTF_8), false);
    List<String> entries = entries(file);
    assertThat(entries).hasSize(3);
    assertThat(entries.get(0)).isEqualTo("1: a");
    assertThat(entries.get(1)).startsWith("2: not valid JSON (Unexpected character ('}'")
        .doesNotContain("the rest of the array");
    assertThat(entries.get(2)).isEqualTo("3: b");
  }

  @Test
  void anArrayWhoseStructureBreaksEndsThereAndSaysSo() throws IOException {
    String rest = "; the rest of the array cannot be read";
    assertThat(entries(write("comma.json", ("[" + A + "\n" + B + "]").getBytes(
        StandardCharsets.UTF_8), false))).containsExactly("1: a",
        "2: not valid JSON (expected ',' or ']' after an element, found '{')" + rest);
    assertThat(entries(write("trailing.json", ("[" + A + ",\n]").getBytes(
        StandardCharsets.UTF_8), false))).containsExactly("1: a",
        "2: not valid JSON (a ',' before the closing ']' (a trailing comma))" + rest);
    assertThat(entries(write("open.json", ("[" + A + ",\n{\"id\": \"c\", \"x\": [1, \"]\"")
        .getBytes(StandardCharsets.UTF_8), false))).containsExactly("1: a",
        "2: not valid JSON (the file ends inside the element that starts here)" + rest);
    assertThat(entries(write("unclosed.json", ("[" + A + ",\n" + B + "\n").getBytes(
        StandardCharsets.UTF_8), false))).containsExactly("1: a", "2: b",
        "3: the file ends before the array is closed with ']'");
    assertThat(entries(write("after.json", ("[" + A + "]\n" + B).getBytes(
        StandardCharsets.UTF_8), false))).containsExactly("1: a",
        "2: content after the array's closing ']' (not read)");
    assertThat(entries(write("empty.json", " [ ]\n".getBytes(StandardCharsets.UTF_8), false)))
        .isEmpty();
  }

  @Test
  void bracketsAndQuotesInsideStringsDoNotCutAnElement() throws IOException {
    String tricky = "{\"id\": \"t\", \"s\": \"]}[{\\\"\\\\\", \"n\": [[], {}]}";
    assertThat(entries(write("tricky.json", ("[" + tricky + ", \"text\", 7, " + A + "]")
        .getBytes(StandardCharsets.UTF_8), false)))
        .containsExactly("1: t", "1: not a JSON object", "1: not a JSON object", "1: a");
  }

  @Test
  void aRecordOfMoreTokensThanTheBoundIsAReason() throws IOException {
    // 1.8 MB, far under the byte bound, but 1.2 million JSON tokens.
    String many = "{\"id\": \"many\", \"messages\": [" + "{},".repeat(600_000) + "{}]}";
    List<String> entries = entries(write("many.jsonl", (many + "\n" + A + "\n")
        .getBytes(StandardCharsets.UTF_8), false));
    assertThat(entries).hasSize(2);
    assertThat(entries.get(0)).startsWith("1: not valid JSON (Token count (")
        .contains(String.valueOf(DatasetFile.MAX_TOKENS));
    assertThat(entries.get(1)).isEqualTo("2: a");
  }

  /** Writes {@code head}, {@code unit} {@code times} times, then {@code tail}, gzip-compressed. */
  private Path gzipRepeated(String name, String head, String unit, long times, String tail)
      throws IOException {
    Path file = dir.resolve(name);
    byte[] chunk = unit.repeat(Math.max(1, (1 << 16) / unit.length()))
        .getBytes(StandardCharsets.UTF_8);
    long perChunk = chunk.length / unit.length();
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(file), 1 << 16) {
          { def.setLevel(Deflater.BEST_SPEED); }
        }) {
      out.write(head.getBytes(StandardCharsets.UTF_8));
      long left = times;
      for (; left >= perChunk; left -= perChunk) {
        out.write(chunk);
      }
      out.write(unit.repeat((int) left).getBytes(StandardCharsets.UTF_8));
      out.write(tail.getBytes(StandardCharsets.UTF_8));
    }
    return file;
  }

  /**
   * The two files of issue 28, each a few megabytes of gzip: an array element of 20 million
   * messages (580 MB), and a 2 GiB line. Both are refused with their line, the record after them
   * is read, and this module's tests run in a 2 GiB heap (its pom), which neither could fit in.
   */
  @Test
  void aHugeArrayElementAndAHugeLineAreReasonsWithTheirLines() throws IOException {
    String message = "{\"role\":\"user\",\"content\":\"\"},";
    Path array = gzipRepeated("huge.json.gz", "[\n{\"id\": \"huge\", \"messages\": [", message,
        20_000_000, "{\"role\":\"user\",\"content\":\"\"}]},\n" + B + "\n]\n");
    assertThat(entries(array)).containsExactly("2: longer than " + DatasetFile.MAX_RECORD_BYTES
        + " bytes", "3: b");
    Path lines = gzipRepeated("huge.jsonl.gz", A + "\n{\"id\": \"long\", \"x\": \"", "a",
        2L << 30, "\"}\n" + B + "\n");
    assertThat(entries(lines)).containsExactly("1: a", "2: longer than "
        + DatasetFile.MAX_RECORD_BYTES + " bytes", "3: b");
  }

  @Test
  void nestingBeyondTheLimitIsAReasonNotACrash() throws IOException {
    String deep = "{\"id\": \"deep\", \"x\": " + "[".repeat(DatasetFile.MAX_DEPTH + 5)
        + "]".repeat(DatasetFile.MAX_DEPTH + 5) + "}";
    List<String> entries = entries(write("deep.jsonl", (deep + "\n" + A + "\n")
        .getBytes(StandardCharsets.UTF_8), false));
    assertThat(entries).hasSize(2);
    assertThat(entries.get(0)).startsWith("1: not valid JSON (Document nesting depth");
    assertThat(entries.get(1)).isEqualTo("2: a");
  }
}
