package io.continualsft.chat.dataset;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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
  void aSyntaxErrorInAnArrayEndsTheFileAndSaysSo() throws IOException {
    Path file = write("broken.json", ("[" + A + ",\n" + "{\"id\": }\n, " + B + "]")
        .getBytes(StandardCharsets.UTF_8), false);
    List<String> entries = entries(file);
    assertThat(entries).hasSize(2);
    assertThat(entries.get(0)).isEqualTo("1: a");
    assertThat(entries.get(1)).startsWith("2: not valid JSON (Unexpected character ('}'")
        .endsWith("; the rest of the array cannot be read");
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
