package io.continualsft.chat.format;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.CharSpan;
import java.io.IOException;
import java.nio.file.Path;

/**
 * A Hugging Face {@code tokenizer.json} (the Rust tokenizer, through DJL), set up the way chat
 * rendering needs it: no added special tokens (the template already wrote them), no truncation
 * (DJL truncates at 512 by default), no padding.
 */
public final class ChatTokenizer implements AutoCloseable {
  /** Token ids with each token's character span in the text, as UTF-16 indices [start, end). */
  public record Tokens(int[] ids, int[] starts, int[] ends) {
    public int size() {
      return ids.length;
    }
  }

  private final HuggingFaceTokenizer tokenizer;

  private ChatTokenizer(HuggingFaceTokenizer tokenizer) {
    this.tokenizer = tokenizer;
  }

  public static ChatTokenizer load(Path tokenizerJson) {
    try {
      return new ChatTokenizer(HuggingFaceTokenizer.builder()
          .optTokenizerPath(tokenizerJson)
          .optAddSpecialTokens(false)
          .optTruncation(false)
          .optPadding(false)
          .build());
    } catch (IOException | RuntimeException e) {
      throw new ModelDirectoryException(tokenizerJson, "could not load the tokenizer: " + e.getMessage(), e);
    }
  }

  public Tokens encode(String text) {
    Encoding encoding = tokenizer.encode(text, false, false);
    long[] ids = encoding.getIds();
    CharSpan[] spans = encoding.getCharTokenSpans();
    // The tokenizer reports offsets in code points; Java strings index UTF-16 units.
    int[] utf16 = codePointToUtf16(text);
    int[] out = new int[ids.length];
    int[] starts = new int[ids.length];
    int[] ends = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = Math.toIntExact(ids[i]);
      CharSpan span = spans[i];
      starts[i] = span == null ? 0 : utf16[Math.min(span.getStart(), utf16.length - 1)];
      ends[i] = span == null ? 0 : utf16[Math.min(span.getEnd(), utf16.length - 1)];
    }
    return new Tokens(out, starts, ends);
  }

  /** Encodes {@code text} and returns only the ids (benchmarks, checks). */
  public long[] ids(String text) {
    return tokenizer.encode(text, false, false).getIds();
  }

  /** The text of {@code ids}, special tokens included. */
  public String decode(int[] ids) {
    return tokenizer.decode(java.util.Arrays.stream(ids).asLongStream().toArray(), false);
  }

  /** utf16[k] = UTF-16 index of code point k; one extra entry for the end of the text. */
  static int[] codePointToUtf16(String text) {
    int[] map = new int[text.codePointCount(0, text.length()) + 1];
    int k = 0;
    for (int i = 0; i < text.length(); i = text.offsetByCodePoints(i, 1)) {
      map[k++] = i;
    }
    map[k] = text.length();
    return map;
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
