package io.continualsft.chat.dataset;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedInputStream;
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
import java.util.Arrays;
import java.util.zip.GZIPInputStream;

/**
 * The records of a dataset file, each with the line it starts on: JSON Lines or one JSON array,
 * plain or gzip (told by the file's first bytes, not its name). A record that cannot be read comes
 * back with the reason instead of a node, so the caller reports it and goes on; nothing is
 * skipped silently.
 *
 * <p>A file is hostile until read, and a JSON-array element is bounded exactly as a JSONL line
 * is: longer than {@link #MAX_RECORD_BYTES}, more than {@link #MAX_TOKENS} JSON tokens (a
 * record of millions of empty messages), nested deeper than {@link #MAX_DEPTH}, bytes that are
 * not UTF-8: each a reason with the record's line, never an {@code OutOfMemoryError}. No record
 * is held in memory past those bounds: the bytes beyond them are scanned, not kept.
 *
 * <p>Both shapes are cut into records here, byte by byte over a 64 KiB buffer, and each record
 * is then parsed alone. Jackson would read an array element only by building all of it first,
 * which is what a bound must prevent, and reading JSONL one {@code read()} call per byte ran at
 * a seventh of the decompression's speed. An array's elements are cut by their brackets (strings
 * and escapes respected); a syntax error inside an element is that element's reason, while an
 * array whose structure breaks (a missing comma, a file ending inside an element) ends there,
 * and says so.
 */
public final class DatasetFile implements Closeable {
  /** The largest record read; far above any conversation a broker would accept. */
  public static final int MAX_RECORD_BYTES = 16 * 1024 * 1024;
  /** Conversations nest a tool schema or two; nothing legitimate is deeper. */
  public static final int MAX_DEPTH = 64;
  /**
   * JSON tokens in one record (a message of role and content is about six). A 16 MiB record of
   * empty objects would otherwise be five million nodes, half a gigabyte of heap.
   */
  public static final long MAX_TOKENS = 1_000_000;

  private static final int BUFFER_BYTES = 1 << 16;
  private static final JsonFactory FACTORY = JsonFactory.builder()
      .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_DEPTH)
          .maxStringLength(MAX_RECORD_BYTES).maxTokenCount(MAX_TOKENS).build())
      .build();
  /** A record is one value: json.loads refuses "{} x", where Jackson would ignore the rest. */
  private static final ObjectMapper JSON = new ObjectMapper(FACTORY)
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

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

  /** Where an array's reader is between elements. */
  private enum ArrayState { FIRST, AFTER_COMMA, AFTER_ELEMENT, CLOSED }

  private final CountingInputStream counted;
  private final InputStream in;
  private final long sizeBytes;
  private final boolean gzip;
  private final boolean jsonArray;
  private final byte[] buffer = new byte[BUFFER_BYTES];
  private int pos;
  private int limit;
  /** The record being cut, at most MAX_RECORD_BYTES of it. */
  private byte[] record = new byte[BUFFER_BYTES];
  private int recordSize;
  private boolean recordTooLong;
  private long line = 1;
  private ArrayState arrayState = ArrayState.FIRST;
  private boolean done;

  private DatasetFile(CountingInputStream counted, InputStream in, long sizeBytes, boolean gzip)
      throws IOException {
    this.counted = counted;
    this.in = in;
    this.sizeBytes = sizeBytes;
    this.gzip = gzip;
    this.jsonArray = startsArray();
  }

  public static DatasetFile open(Path file) throws IOException {
    long size = Files.size(file);
    CountingInputStream counted = new CountingInputStream(Files.newInputStream(file));
    try {
      BufferedInputStream raw = new BufferedInputStream(counted, BUFFER_BYTES);
      raw.mark(2);
      boolean gzip = raw.read() == 0x1f && raw.read() == 0x8b;
      raw.reset();
      InputStream in = gzip ? new GZIPInputStream(raw, BUFFER_BYTES) : raw;
      return new DatasetFile(counted, in, size, gzip);
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
    return jsonArray;
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
    return jsonArray ? nextElement() : nextLine();
  }

  /**
   * Whether the first byte after whitespace and a byte-order mark is '[' (then consumed); looked
   * for within the first buffer, which JSONL's first line leaves as it is otherwise.
   */
  private boolean startsArray() throws IOException {
    fill();
    int i = 0;
    while (i < limit && isSpaceOrBom(buffer[i])) {
      i++;
    }
    if (i == limit || buffer[i] != '[') {
      return false;
    }
    for (int j = 0; j < i; j++) {
      if (buffer[j] == '\n') {
        line++;
      }
    }
    pos = i + 1;
    return true;
  }

  private static boolean isSpaceOrBom(byte b) {
    return b == ' ' || b == '\t' || b == '\r' || b == '\n' || b == (byte) 0xEF
        || b == (byte) 0xBB || b == (byte) 0xBF;
  }

  /** Refills the buffer once it is used up; false at the end of the file. */
  private boolean fill() throws IOException {
    if (pos < limit) {
      return true;
    }
    pos = 0;
    limit = 0;
    int n;
    do {
      n = in.read(buffer, 0, buffer.length);
    } while (n == 0);
    if (n < 0) {
      return false;
    }
    limit = n;
    return true;
  }

  private void startRecord() {
    recordSize = 0;
    recordTooLong = false;
    if (record.length > 4 * BUFFER_BYTES) {
      record = new byte[BUFFER_BYTES]; // one long record does not pin 16 MiB for the rest
    }
  }

  /** Keeps {@code buffer[from, to)} as part of the record, or marks it too long. */
  private void keep(int from, int to) {
    int n = to - from;
    if (n == 0 || recordTooLong) {
      return;
    }
    if (recordSize + n > MAX_RECORD_BYTES) {
      recordTooLong = true;
      return;
    }
    if (recordSize + n > record.length) {
      record = Arrays.copyOf(record, Math.min(MAX_RECORD_BYTES,
          Math.max(record.length * 2, recordSize + n)));
    }
    System.arraycopy(buffer, from, record, recordSize, n);
    recordSize += n;
  }

  private Entry nextLine() throws IOException {
    startRecord();
    long number = line;
    boolean sawAny = false;
    boolean newline = false;
    while (fill()) {
      int end = pos;
      while (end < limit && buffer[end] != '\n') {
        end++;
      }
      sawAny |= end > pos;
      keep(pos, end);
      if (end < limit) {
        pos = end + 1;
        newline = true;
        break;
      }
      pos = limit;
    }
    if (!newline) {
      done = true;
      if (!sawAny) {
        return null; // the newline ending the last line is not a blank line
      }
    }
    line++;
    return parsed(number, true);
  }

  /** The record cut so far, parsed; {@code bomAllowed}: the file's first line may start with one. */
  private Entry parsed(long number, boolean bomAllowed) {
    if (recordTooLong) {
      return new Entry(number, null, "longer than " + MAX_RECORD_BYTES + " bytes");
    }
    String text;
    try {
      text = StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(record, 0, recordSize)).toString();
    } catch (CharacterCodingException e) {
      return new Entry(number, null, "not valid UTF-8");
    }
    if (bomAllowed && number == 1 && text.startsWith("\uFEFF")) {
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

  private Entry nextElement() throws IOException {
    while (true) {
      if (!fill()) {
        done = true;
        return arrayState == ArrayState.CLOSED ? null : new Entry(line, null,
            "the file ends before the array is closed with ']'");
      }
      byte b = buffer[pos];
      if (b == ' ' || b == '\t' || b == '\r' || b == '\n') {
        if (b == '\n') {
          line++;
        }
        pos++;
        continue;
      }
      switch (arrayState) {
        case CLOSED -> {
          done = true;
          return new Entry(line, null, "content after the array's closing ']' (not read)");
        }
        case AFTER_ELEMENT -> {
          pos++;
          if (b == ',') {
            arrayState = ArrayState.AFTER_COMMA;
          } else if (b == ']') {
            arrayState = ArrayState.CLOSED;
          } else {
            done = true;
            return broken("expected ',' or ']' after an element, found " + shown(b));
          }
        }
        case FIRST, AFTER_COMMA -> {
          if (b == ']') {
            pos++;
            if (arrayState == ArrayState.AFTER_COMMA) {
              done = true;
              return broken("a ',' before the closing ']' (a trailing comma)");
            }
            arrayState = ArrayState.CLOSED;
          } else if (b == ',' || b == '}') {
            done = true;
            return broken("expected an element, found " + shown(b));
          } else {
            long at = line;
            boolean object = b == '{';
            if (!cutElement()) {
              done = true;
              return new Entry(at, null, "not valid JSON (the file ends inside the element that"
                  + " starts here); the rest of the array cannot be read");
            }
            arrayState = ArrayState.AFTER_ELEMENT;
            if (!object && !recordTooLong) {
              return new Entry(at, null, "not a JSON object");
            }
            return parsed(at, false);
          }
        }
      }
    }
  }

  private Entry broken(String what) {
    return new Entry(line, null, "not valid JSON (" + what + "); the rest of the array cannot be"
        + " read");
  }

  private static String shown(byte b) {
    return b >= 0x20 && b < 0x7f ? "'" + (char) b + "'" : String.format("byte 0x%02x", b & 0xff);
  }

  /**
   * Cuts one element, starting at {@code buffer[pos]}: an object or array to its matching
   * bracket, a string to its closing quote, anything else to the next ',', ']' or whitespace.
   * False when the file ends inside it.
   */
  private boolean cutElement() throws IOException {
    startRecord();
    long depth = 0;
    boolean inString = false;
    boolean escaped = false;
    boolean scalar = buffer[pos] != '{' && buffer[pos] != '[' && buffer[pos] != '"';
    while (fill()) {
      int i = pos;
      boolean ended = false;
      for (; i < limit; i++) {
        byte b = buffer[i];
        if (b == '\n') {
          line++;
        }
        if (inString) {
          if (escaped) {
            escaped = false;
          } else if (b == '\\') {
            escaped = true;
          } else if (b == '"') {
            inString = false;
            if (depth == 0) {
              ended = true;
              i++;
              break;
            }
          }
          continue;
        }
        if (scalar) {
          if (b == ',' || b == ']' || b == ' ' || b == '\t' || b == '\r' || b == '\n') {
            if (b == '\n') {
              line--; // counted again when the separator is skipped
            }
            ended = true;
            break;
          }
          continue;
        }
        if (b == '"') {
          inString = true;
        } else if (b == '{' || b == '[') {
          depth++;
        } else if ((b == '}' || b == ']') && --depth == 0) {
          ended = true;
          i++;
          break;
        }
      }
      keep(pos, i);
      pos = i;
      if (ended) {
        return true;
      }
    }
    return scalar && recordSize > 0; // a bare scalar may end the (broken) file
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
    in.close();
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
