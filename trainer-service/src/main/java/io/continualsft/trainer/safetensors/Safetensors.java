package io.continualsft.trainer.safetensors;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and byte range, then the raw little-endian data.
 *
 * <p>Written here because DJL's reader copies the whole file into the heap, uses 32-bit offsets
 * (files over 2 GiB fail), aborts the JVM on BF16, and its writer drops {@code __metadata__}.
 * This reader memory-maps each tensor with 64-bit offsets and converts F16 and BF16 to F32 while
 * reading (BF16 to F32 is exact: the 16 bits become the high half).
 */
public final class Safetensors {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long MAX_HEADER = 100L * 1024 * 1024;
  /** Tensors are read this much at a time, never mapped or held whole in the heap. */
  private static final long SLICE_BYTES = 4L << 20;

  private Safetensors() {}

  /** One tensor's entry in the header. */
  public record TensorInfo(String name, String dtype, long[] shape, long begin, long end) {
    /** The element count; {@link #open} refused any shape whose product overflows. */
    public long elements() {
      long n = 1;
      for (long d : shape) {
        n = Math.multiplyExact(n, d);
      }
      return n;
    }

    @Override
    public String toString() {
      return name + " " + dtype + Arrays.toString(shape);
    }
  }

  /**
   * Where a reader's bytes come from: a memory-mapped file (tensor by tensor, 64-bit offsets) or
   * an array already in memory (a checkpoint file assembled from Kafka records).
   */
  private interface Source extends AutoCloseable {
    long size();

    ByteBuffer read(long offset, long length) throws IOException;

    @Override
    void close() throws IOException;
  }

  private static final class FileSource implements Source {
    private final FileChannel channel;
    /** Slices and headers are read into this one buffer, reused: no garbage per slice. */
    private ByteBuffer scratch;

    FileSource(FileChannel channel) {
      this.channel = channel;
    }

    public long size() {
      try {
        return channel.size();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    public ByteBuffer read(long offset, long length) throws IOException {
      if (length <= 8L << 20) { // a header or a slice: read it rather than map it; the caller
        // has used the previous one by the time it asks for the next
        if (scratch == null || scratch.capacity() < length) {
          scratch = ByteBuffer.allocate((int) Math.max(length, SLICE_BYTES));
        }
        ByteBuffer buffer = scratch.clear().limit((int) length);
        while (buffer.hasRemaining() && channel.read(buffer, offset + buffer.position()) >= 0) {
          // a read may return fewer bytes than asked for
        }
        return buffer.flip();
      }
      return channel.map(FileChannel.MapMode.READ_ONLY, offset, length);
    }

    public void close() throws IOException {
      channel.close();
    }
  }

  private record MemorySource(byte[] bytes) implements Source {
    public long size() {
      return bytes.length;
    }

    public ByteBuffer read(long offset, long length) {
      return ByteBuffer.wrap(bytes, (int) offset, (int) length).slice();
    }

    public void close() {}
  }

  /** An open safetensors file (or bytes): its header, and its tensors read on demand. */
  public static final class Reader implements AutoCloseable {
    private final String name;
    private final Source source;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private Reader(String name, Source source, long dataStart, Map<String, TensorInfo> tensors,
        Map<String, String> metadata) {
      this.name = name;
      this.source = source;
      this.dataStart = dataStart;
      this.tensors = tensors;
      this.metadata = metadata;
    }

    public Map<String, TensorInfo> tensors() {
      return tensors;
    }

    public Map<String, String> metadata() {
      return metadata;
    }

    /** The file's path, or the name the bytes were given. */
    public String name() {
      return name;
    }

    /** The tensor's values as float32, converted from F32, F16, BF16 or F64. */
    public float[] readFloats(String tensor) {
      TensorInfo info = info(tensor);
      long count = info.elements();
      if (count > Integer.MAX_VALUE - 8) {
        throw new SafetensorsException(name, info + " has more elements than one Java array holds");
      }
      int width = width(info);
      float[] out = new float[(int) count];
      convert(info.dtype(), read(info, 0, count * width), java.nio.FloatBuffer.wrap(out),
          (int) count);
      return out;
    }

    /**
     * The tensor's values as float32 in a new direct buffer of native byte order, read in slices
     * of at most 4 MiB: never mapped, never whole in the Java heap. What a model keeps its
     * weights in (a DJL array over a direct buffer uses it in place).
     */
    public ByteBuffer readFloat32Direct(String tensor) {
      TensorInfo info = info(tensor);
      long count = info.elements();
      if (count > Integer.MAX_VALUE / Float.BYTES) {
        throw new SafetensorsException(name, info + " has more elements than one buffer holds"
            + " (2 GiB)");
      }
      int width = width(info);
      ByteBuffer out = ByteBuffer.allocateDirect((int) count * Float.BYTES)
          .order(ByteOrder.nativeOrder());
      java.nio.FloatBuffer floats = out.asFloatBuffer();
      long slice = SLICE_BYTES / width;
      for (long done = 0; done < count; done += slice) {
        int n = (int) Math.min(slice, count - done);
        convert(info.dtype(), read(info, done * width, (long) n * width), floats, n);
      }
      return out;
    }

    /** Receives a tensor's values a slice at a time. */
    @FunctionalInterface
    public interface SliceSink {
      /** {@code slice} holds values {@code [from, from + count)} as native-order float32. */
      void accept(ByteBuffer slice, long from, int count);
    }

    /**
     * The tensor's values as float32, a slice of at most {@code staging}'s capacity at a time,
     * converted into {@code staging} (a direct buffer of native order, reused for every slice):
     * for a caller that stores them in another form and needs no full float32 copy.
     */
    public void readFloat32Slices(String tensor, ByteBuffer staging, SliceSink sink) {
      TensorInfo info = info(tensor);
      long count = info.elements();
      int width = width(info);
      int slice = Math.min(staging.capacity() / Float.BYTES, (int) (SLICE_BYTES / width));
      for (long done = 0; done < count; done += slice) {
        int n = (int) Math.min(slice, count - done);
        staging.clear();
        java.nio.FloatBuffer floats = staging.asFloatBuffer();
        convert(info.dtype(), read(info, done * width, (long) n * width), floats, n);
        staging.limit(n * Float.BYTES);
        sink.accept(staging, done, n);
      }
    }

    private TensorInfo info(String tensor) {
      TensorInfo info = tensors.get(tensor);
      if (info == null) {
        throw new SafetensorsException(name, "no tensor named " + tensor);
      }
      return info;
    }

    /**
     * Bytes per value of a dtype this reader converts. That the tensor's span fits its shape and
     * dtype was checked, exactly, when the header was read.
     */
    private int width(TensorInfo info) {
      return switch (info.dtype()) {
        case "F32" -> 4;
        case "F16", "BF16" -> 2;
        case "F64" -> 8;
        default -> throw new SafetensorsException(name, info + ": dtype " + info.dtype()
            + " is not a floating-point type this reader converts (F32, F16, BF16, F64)");
      };
    }

    /** {@code length} bytes of the tensor's data from {@code offset} within it, little-endian. */
    private ByteBuffer read(TensorInfo info, long offset, long length) {
      try {
        return source.read(dataStart + info.begin() + offset, length)
            .order(ByteOrder.LITTLE_ENDIAN);
      } catch (IOException e) {
        throw new SafetensorsException(name, "could not read " + info + ": " + e.getMessage());
      }
    }

    /** {@code count} values of {@code dtype} from {@code in} into {@code out}, as float32. */
    private static void convert(String dtype, ByteBuffer in, java.nio.FloatBuffer out,
        int count) {
      switch (dtype) {
        case "F32" -> out.put(in.asFloatBuffer().limit(count));
        case "F64" -> {
          for (int i = 0; i < count; i++) {
            out.put((float) in.getDouble());
          }
        }
        case "BF16" -> {
          for (int i = 0; i < count; i++) {
            out.put(Float.intBitsToFloat((in.getShort() & 0xffff) << 16));
          }
        }
        default -> { // F16
          for (int i = 0; i < count; i++) {
            out.put(Float.float16ToFloat(in.getShort()));
          }
        }
      }
    }

    @Override
    public void close() {
      try {
        source.close();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  /** Opens {@code file} and validates its header against the file's length. */
  public static Reader open(Path file) {
    FileChannel channel;
    try {
      channel = FileChannel.open(file, StandardOpenOption.READ);
    } catch (IOException e) {
      throw new SafetensorsException(file, "cannot open: " + e.getMessage());
    }
    return open(file.toString(), new FileSource(channel));
  }

  /** Reads safetensors {@code bytes} (called {@code name} in errors), validating the header. */
  public static Reader read(String name, byte[] bytes) {
    return open(name, new MemorySource(bytes));
  }

  private static Reader open(String name, Source source) {
    try {
      long size = source.size();
      if (size < 8) {
        throw new SafetensorsException(name, "truncated: " + size + " bytes, shorter than the"
            + " 8-byte header length");
      }
      long headerLength = source.read(0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
      if (headerLength <= 0 || headerLength > MAX_HEADER || 8 + headerLength > size) {
        throw new SafetensorsException(name, "header length " + headerLength + " does not fit a"
            + " file of " + size + " bytes (truncated or not safetensors)");
      }
      ByteBuffer header = source.read(8, headerLength);
      byte[] headerBytes = new byte[header.remaining()];
      header.get(headerBytes);
      JsonNode tree;
      try {
        tree = JSON.readTree(new String(headerBytes, StandardCharsets.UTF_8));
      } catch (IOException e) {
        throw new SafetensorsException(name, "header is not valid JSON: " + e.getMessage());
      }
      long dataStart = 8 + headerLength;
      long dataLength = size - dataStart;
      if (!tree.isObject()) {
        throw new SafetensorsException(name, "header is not a JSON object");
      }
      Map<String, TensorInfo> tensors = new LinkedHashMap<>();
      Map<String, String> metadata = new LinkedHashMap<>();
      for (Iterator<Map.Entry<String, JsonNode>> it = tree.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        if (e.getKey().equals("__metadata__")) {
          metadata(name, e.getValue(), metadata);
          continue;
        }
        tensors.put(e.getKey(), tensorInfo(name, e.getKey(), e.getValue()));
      }
      checkLayout(name, tensors.values(), dataLength);
      return new Reader(name, source, dataStart, tensors, metadata);
    } catch (IOException e) {
      closeQuietly(source);
      throw new SafetensorsException(name, "cannot read: " + e.getMessage());
    } catch (RuntimeException e) {
      closeQuietly(source);
      throw e;
    }
  }

  /**
   * Every dtype the safetensors format names, with its width in bits: a header naming another is
   * refused as the {@code safetensors} package refuses it, whether or not this reader converts
   * that dtype (only the floating-point ones, when a tensor is read).
   */
  private static final Map<String, Integer> DTYPE_BITS = Map.ofEntries(Map.entry("BOOL", 8),
      Map.entry("F4", 4), Map.entry("F6_E2M3", 6), Map.entry("F6_E3M2", 6), Map.entry("U8", 8),
      Map.entry("I8", 8), Map.entry("F8_E5M2", 8), Map.entry("F8_E4M3", 8),
      Map.entry("F8_E8M0", 8), Map.entry("F8_E4M3FNUZ", 8), Map.entry("F8_E5M2FNUZ", 8),
      Map.entry("I16", 16), Map.entry("U16", 16), Map.entry("F16", 16),
      Map.entry("BF16", 16), Map.entry("I32", 32), Map.entry("U32", 32), Map.entry("F32", 32),
      Map.entry("I64", 64), Map.entry("U64", 64), Map.entry("F64", 64), Map.entry("C64", 64));

  /** {@code __metadata__}: string keys to string values, nothing else. */
  private static void metadata(String name, JsonNode node, Map<String, String> into) {
    if (!node.isObject()) {
      throw new SafetensorsException(name, "__metadata__ is not a JSON object");
    }
    for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> m = it.next();
      if (!m.getValue().isTextual()) {
        throw new SafetensorsException(name, "__metadata__ value of " + m.getKey()
            + " is not a string");
      }
      into.put(m.getKey(), m.getValue().asText());
    }
  }

  /**
   * One tensor's entry, each field checked with exact arithmetic: a known dtype, dimensions that
   * are non-negative integers, an element count and byte count that do not overflow 64 bits,
   * and a byte range {@code [begin, end)} exactly that long.
   */
  private static TensorInfo tensorInfo(String name, String tensor, JsonNode t) {
    if (!t.isObject()) {
      throw new SafetensorsException(name, "tensor " + tensor + " is not a JSON object");
    }
    String dtype = t.path("dtype").isTextual() ? t.path("dtype").asText() : null;
    Integer bits = dtype == null ? null : DTYPE_BITS.get(dtype);
    if (bits == null) {
      throw new SafetensorsException(name, "tensor " + tensor + " has dtype " + t.path("dtype")
          + ", not one of the safetensors dtypes");
    }
    JsonNode shapeNode = t.path("shape");
    if (!shapeNode.isArray()) {
      throw new SafetensorsException(name, "tensor " + tensor + " has no shape array");
    }
    long[] shape = new long[shapeNode.size()];
    long elements = 1;
    for (int i = 0; i < shape.length; i++) {
      shape[i] = nonNegativeLong(name, tensor, "shape", shapeNode.get(i));
      try {
        elements = Math.multiplyExact(elements, shape[i]);
      } catch (ArithmeticException overflow) {
        throw new SafetensorsException(name, "tensor " + tensor + "'s shape "
            + shapeNode + " has more elements than 64 bits count");
      }
    }
    JsonNode offsets = t.path("data_offsets");
    if (!offsets.isArray() || offsets.size() != 2) {
      throw new SafetensorsException(name, "tensor " + tensor + " needs data_offsets [begin, end]");
    }
    long begin = nonNegativeLong(name, tensor, "data_offsets", offsets.get(0));
    long end = nonNegativeLong(name, tensor, "data_offsets", offsets.get(1));
    long bitsNeeded;
    try {
      bitsNeeded = Math.multiplyExact(elements, (long) bits);
    } catch (ArithmeticException overflow) {
      throw new SafetensorsException(name, "tensor " + tensor + "'s shape " + shapeNode
          + " in " + dtype + " needs more bytes than 64 bits count");
    }
    if (bitsNeeded % 8 != 0 || end < begin || end - begin != bitsNeeded / 8) {
      throw new SafetensorsException(name, "tensor " + tensor + " " + dtype + shapeNode
          + " has data offsets [" + begin + ", " + end + "), but its shape and dtype need "
          + (bitsNeeded / 8) + (bitsNeeded % 8 != 0 ? " and a fraction" : "") + " bytes");
    }
    return new TensorInfo(tensor, dtype, shape, begin, end);
  }

  private static long nonNegativeLong(String name, String tensor, String field, JsonNode v) {
    if (v == null || !v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < 0) {
      throw new SafetensorsException(name, "tensor " + tensor + "'s " + field + " holds " + v
          + ", not a non-negative 64-bit integer");
    }
    return v.asLong();
  }

  /**
   * The tensors' byte ranges, in order, tile the data exactly: the first begins at 0, each
   * begins where the one before ends, and the last ends at the end of the file. No byte is
   * read by two tensors or by none, as the {@code safetensors} package requires.
   */
  private static void checkLayout(String name, java.util.Collection<TensorInfo> tensors,
      long dataLength) {
    List<TensorInfo> byOffset = tensors.stream()
        .sorted(java.util.Comparator.comparingLong(TensorInfo::begin)
            .thenComparingLong(TensorInfo::end))
        .toList();
    long expected = 0;
    for (TensorInfo t : byOffset) {
      if (t.begin() != expected) {
        throw new SafetensorsException(name, "tensor " + t.name() + " begins at data byte "
            + t.begin() + ", where " + expected + " was expected (tensors must tile the data"
            + " without gaps or overlaps)");
      }
      expected = t.end();
    }
    if (expected > dataLength) {
      throw new SafetensorsException(name, "the tensors need " + expected + " data bytes, the"
          + " file has " + dataLength + " (truncated?)");
    }
    if (expected < dataLength) {
      throw new SafetensorsException(name, "the tensors cover " + expected + " of the file's "
          + dataLength + " data bytes; the rest is no tensor's");
    }
  }

  private static void closeQuietly(Source source) {
    try {
      source.close();
    } catch (IOException ignored) {
      // already failing
    }
  }

  /** A float32 tensor to write. */
  public record Tensor(String name, long[] shape, float[] data) {}

  /**
   * A float32 tensor to write whose values are made only when it is written: a writer of many
   * large tensors (a random model of billions of parameters) holds one at a time.
   */
  public record PendingTensor(String name, long[] shape, Supplier<float[]> values) {}

  /**
   * Writes F32 tensors sorted by name, {@code metadata} as {@code __metadata__}, the header padded
   * with spaces to a multiple of 8 bytes as the reference implementation does. Writes to a
   * temporary file and renames it, so a reader never sees a half-written file.
   */
  public static void write(Path file, List<Tensor> tensors, Map<String, String> metadata) {
    writePending(file, pending(tensors), metadata);
  }

  /** As {@link #write(Path, List, Map)}, each tensor's values made as it is written. */
  public static void writePending(Path file, List<PendingTensor> tensors,
      Map<String, String> metadata) {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
      write(out, tensors, metadata);
    } catch (IOException e) {
      throw new UncheckedIOException("could not write " + file, e);
    }
    try {
      Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
          java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException("could not move " + tmp + " to " + file, e);
    }
  }

  /** The bytes {@link #write(Path, List, Map)} would write, in memory. */
  public static byte[] toBytes(List<Tensor> tensors, Map<String, String> metadata) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      write(out, pending(tensors), metadata);
    } catch (IOException e) {
      throw new UncheckedIOException(e); // a ByteArrayOutputStream does not fail
    }
    return out.toByteArray();
  }

  private static List<PendingTensor> pending(List<Tensor> tensors) {
    return tensors.stream().map(t -> {
      long n = 1;
      for (long d : t.shape()) {
        n *= d;
      }
      if (n != t.data().length) {
        throw new IllegalArgumentException(t.name() + ": shape " + Arrays.toString(t.shape())
            + " holds " + n + " values, got " + t.data().length);
      }
      return new PendingTensor(t.name(), t.shape(), t::data);
    }).toList();
  }

  private static void write(OutputStream out, List<PendingTensor> tensors,
      Map<String, String> metadata) throws IOException {
    Map<String, PendingTensor> sorted = new TreeMap<>();
    tensors.forEach(t -> sorted.put(t.name(), t));
    ObjectNode header = JSON.createObjectNode();
    if (metadata != null && !metadata.isEmpty()) {
      ObjectNode meta = header.putObject("__metadata__");
      new TreeMap<>(metadata).forEach(meta::put);
    }
    long offset = 0;
    for (PendingTensor t : sorted.values()) {
      long n = 1;
      for (long d : t.shape()) {
        n *= d;
      }
      ObjectNode entry = header.putObject(t.name());
      entry.put("dtype", "F32");
      var shape = entry.putArray("shape");
      for (long d : t.shape()) {
        shape.add(d);
      }
      var offsets = entry.putArray("data_offsets");
      offsets.add(offset);
      offsets.add(offset + 4L * n);
      offset += 4L * n;
    }
    ByteArrayOutputStream json = new ByteArrayOutputStream();
    try (JsonGenerator g = JSON.getFactory().createGenerator(json)) {
      JSON.writeTree(g, header);
    }
    byte[] headerBytes = json.toByteArray();
    int padded = (headerBytes.length + 7) / 8 * 8;
    byte[] headerOut = Arrays.copyOf(headerBytes, padded);
    Arrays.fill(headerOut, headerBytes.length, padded, (byte) ' ');

    out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
    out.write(headerOut);
    ByteBuffer chunk = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
    for (PendingTensor t : sorted.values()) {
      float[] values = t.values().get();
      long n = 1;
      for (long d : t.shape()) {
        n *= d;
      }
      if (n != values.length) {
        throw new IllegalArgumentException(t.name() + ": shape " + Arrays.toString(t.shape())
            + " holds " + n + " values, got " + values.length);
      }
      for (float v : values) {
        if (!chunk.hasRemaining()) {
          out.write(chunk.array(), 0, chunk.position());
          chunk.clear();
        }
        chunk.putFloat(v);
      }
    }
    out.write(chunk.array(), 0, chunk.position());
  }
}
