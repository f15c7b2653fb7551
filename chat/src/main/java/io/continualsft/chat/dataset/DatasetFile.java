package io.continualsft.chat.dataset;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/**
 * The records of a dataset file, each with the line it starts on: JSON Lines or one JSON array,
 * plain or gzip (told by the file's first bytes, not its name). A record that cannot be read comes
 * back with the reason instead of a node, so the caller reports it and goes on; nothing is
 * skipped silently.
 *
 * <p>A file is hostile until read: a line longer than {@link #MAX_RECORD_BYTES}, JSON nested
 * deeper than {@link #MAX_DEPTH}, bytes that are not UTF-8 are reasons, not crashes. In a JSON
 * array a syntax error ends the file (the parser cannot find the next element), and says so.
 */
public final class DatasetFile implements Closeable {
  /** The largest record read; far above any conversation a broker would accept. */
  public static final int MAX_RECORD_BYTES = 16 * 1024 * 1024;
  /** Conversations nest a tool schema or two; nothing legitimate is deeper. */
  public static final int MAX_DEPTH = 64;

  private static final JsonFactory FACTORY = JsonFactory.builder()
      .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_DEPTH)
          .maxStringLength(MAX_RECORD_BYTES).build())
      .build();
  /** A line is one value: json.loads refuses "{} x", where Jackson would ignore the rest. */
  private static final ObjectMapper JSON = new ObjectMapper(FACTORY)
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
  /** An array's elements are read one by one from the same parser, the rest following. */
  private static final ObjectMapper ELEMENTS = new ObjectMapper(FACTORY);

  /** One record: its node, or why it could not be read. */
  public record Entry(long line, JsonNode node, String error) {
    /** The record's node, or its reason as the exception a caller reports a bad record by. */
    public JsonNode record() throws InvalidRecordException {
      if (error != null) {
        throw new InvalidRecordException(error);
      }
      return node;
    }
  }

  private final CountingInputStream counted;
  private final InputStream in;
  private final long sizeBytes;
  private final boolean gzip;
  private final JsonParser array;
  private long line = 1;
  private boolean done;

  private DatasetFile(CountingInputStream counted, InputStream in, long sizeBytes, boolean gzip,
      JsonParser array) {
    this.counted = counted;
    this.in = in;
    this.sizeBytes = sizeBytes;
    this.gzip = gzip;
    this.array = array;
  }

  public static DatasetFile open(Path file) throws IOException {
    long size = Files.size(file);
    CountingInputStream counted = new CountingInputStream(Files.newInputStream(file));
    try {
      BufferedInputStream raw = new BufferedInputStream(counted, 1 << 16);
      raw.mark(2);
      boolean gzip = raw.read() == 0x1f && raw.read() == 0x8b;
      raw.reset();
      BufferedInputStream in = gzip
          ? new BufferedInputStream(new GZIPInputStream(raw, 1 << 16), 1 << 16) : raw;
      // A JSON array starts with '[' after optional whitespace and byte-order mark.
      in.mark(4096);
      int b;
      int seen = 0;
      do {
        b = in.read();
        seen++;
      } while (b >= 0 && seen < 4096 && (b == ' ' || b == '\t' || b == '\r' || b == '\n'
          || b == 0xEF || b == 0xBB || b == 0xBF));
      in.reset();
      JsonParser array = null;
      if (b == '[') {
        array = FACTORY.createParser(in);
        array.nextToken(); // START_ARRAY
      }
      return new DatasetFile(counted, in, size, gzip, array);
    } catch (IOException | RuntimeException e) {
      counted.close();
      throw e;
    }
  }

  /** Whether the file was gzip-compressed. */
  public boolean gzip() {
    return gzip;
  }

  /** Whether the file is one JSON array rather than JSON Lines. */
  public boolean jsonArray() {
    return array != null;
  }

  /** Bytes of the file (compressed, as stored) read so far, and its size: for progress. */
  public long bytesRead() {
    return counted.count;
  }

  public long sizeBytes() {
    return sizeBytes;
  }

  /** The next record, or null at the end of the file. */
  public Entry next() throws IOException {
    if (done) {
      return null;
    }
    return array != null ? nextElement() : nextLine();
  }

  private Entry nextElement() throws IOException {
    JsonToken token;
    long at;
    try {
      token = array.nextToken();
      at = array.currentTokenLocation().getLineNr();
      if (token == null || token == JsonToken.END_ARRAY) {
        done = true;
        return null;
      }
      JsonNode node = ELEMENTS.readTree(array);
      if (!node.isObject()) {
        return new Entry(at, null, "not a JSON object");
      }
      return new Entry(at, node, null);
    } catch (JsonProcessingException e) {
      done = true;
      long where = e.getLocation() != null ? e.getLocation().getLineNr() : -1;
      return new Entry(where, null, "not valid JSON (" + firstLine(e.getOriginalMessage())
          + "); the rest of the array cannot be read");
    }
  }

  private Entry nextLine() throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    long number = line;
    boolean tooLong = false;
    int b;
    while ((b = in.read()) >= 0 && b != '\n') {
      if (bytes.size() < MAX_RECORD_BYTES) {
        bytes.write(b);
      } else {
        tooLong = true;
      }
    }
    if (b < 0) {
      done = true;
      if (bytes.size() == 0 && !tooLong) {
        return null; // the newline ending the last line is not a blank line
      }
    }
    line++;
    if (tooLong) {
      return new Entry(number, null, "longer than " + MAX_RECORD_BYTES + " bytes");
    }
    String text;
    try {
      text = StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes.toByteArray())).toString();
    } catch (CharacterCodingException e) {
      return new Entry(number, null, "not valid UTF-8");
    }
    if (number == 1 && text.startsWith("\uFEFF")) {
      text = text.substring(1);
    }
    if (text.isBlank()) {
      return new Entry(number, null, "blank");
    }
    try {
      return new Entry(number, parseRecord(text), null);
    } catch (InvalidRecordException e) {
      return new Entry(number, null, e.getMessage());
    }
  }

  /** One JSON object, as a line of a JSONL file holds it. */
  static JsonNode parseRecord(String text) throws InvalidRecordException {
    JsonNode node = parse(text);
    if (node == null || !node.isObject()) {
      throw new InvalidRecordException("not a JSON object");
    }
    return node;
  }

  /** A JSON object or array held in a string (a ShareGPT function_call's value). */
  static JsonNode parseRecordOrArray(String text) throws InvalidRecordException {
    JsonNode node = parse(text);
    if (node == null || !(node.isObject() || node.isArray())) {
      throw new InvalidRecordException("not a JSON object or array");
    }
    return node;
  }

  private static JsonNode parse(String text) throws InvalidRecordException {
    try {
      return JSON.readTree(text);
    } catch (JsonProcessingException e) {
      throw new InvalidRecordException("not valid JSON (" + firstLine(e.getOriginalMessage())
          + ")");
    }
  }

  private static String firstLine(String s) {
    return s == null ? "" : s.lines().findFirst().orElse("");
  }

  @Override
  public void close() throws IOException {
    try {
      if (array != null) {
        array.close();
      }
    } finally {
      in.close();
    }
  }

  /** Counts the stored bytes read, for progress through a compressed file. */
  private static final class CountingInputStream extends FilterInputStream {
    long count;

    CountingInputStream(InputStream in) {
      super(in);
    }

    @Override
    public int read() throws IOException {
      int b = super.read();
      if (b >= 0) {
        count++;
      }
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = super.read(b, off, len);
      if (n > 0) {
        count += n;
      }
      return n;
    }
  }
}
