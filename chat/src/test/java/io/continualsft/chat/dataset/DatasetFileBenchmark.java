package io.continualsft.chat.dataset;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.zip.GZIPOutputStream;

/**
 * How fast {@link DatasetFile} reads, against {@code gzip -dc} on the same file in the same run
 * (BENCHMARKS.md, "the dataset reader"). Three files are written to a scratch directory: the
 * bundled sample's lines repeated to about {@code MB} megabytes, plain and gzip, and one gzip
 * file whose second line is 2 GiB long. Each is read {@code ROUNDS} times, alternating with
 * {@code gzip -dc > /dev/null}; records are parsed as {@code mask} and {@code produce} parse
 * them.
 *
 * <p>Arguments: SAMPLE_JSONL SCRATCH_DIR [MB=512] [ROUNDS=3].
 */
public final class DatasetFileBenchmark {
  private DatasetFileBenchmark() {}

  public static void main(String[] args) throws Exception {
    Path sample = Path.of(args[0]);
    Path scratch = Files.createDirectories(Path.of(args[1]));
    long megabytes = args.length > 2 ? Long.parseLong(args[2]) : 512;
    int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 3;
    List<String> lines = Files.readAllLines(sample, StandardCharsets.UTF_8);
    byte[] block = (String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8);
    long copies = megabytes * 1_000_000 / block.length + 1;
    Path plain = scratch.resolve("repeated.jsonl");
    Path gzip = scratch.resolve("repeated.jsonl.gz");
    Path longLine = scratch.resolve("long-line.jsonl.gz");
    try (OutputStream p = Files.newOutputStream(plain);
        OutputStream g = new GZIPOutputStream(Files.newOutputStream(gzip), 1 << 16)) {
      for (long i = 0; i < copies; i++) {
        p.write(block);
        g.write(block);
      }
    }
    try (OutputStream g = new GZIPOutputStream(Files.newOutputStream(longLine), 1 << 16)) {
      g.write(block, 0, block.length);
      g.write("{\"id\": \"long\", \"x\": \"".getBytes(StandardCharsets.UTF_8));
      byte[] a = "a".repeat(1 << 20).getBytes(StandardCharsets.UTF_8);
      for (int i = 0; i < 2048; i++) {
        g.write(a);
      }
      g.write("\"}\n".getBytes(StandardCharsets.UTF_8));
      g.write(block);
    }
    System.out.printf(Locale.ROOT, "files: %s %,d bytes (%,d lines); %s %,d bytes; %s %,d bytes"
        + " (a 2 GiB line)%n", plain.getFileName(), Files.size(plain), copies * lines.size(),
        gzip.getFileName(), Files.size(gzip), longLine.getFileName(), Files.size(longLine));
    for (Path file : List.of(plain, gzip, longLine)) {
      for (int round = 1; round <= rounds; round++) {
        double reference = round % 2 == 1 ? gzipSeconds(file) : 0;
        long started = System.nanoTime();
        long records = 0;
        long bad = 0;
        try (DatasetFile in = DatasetFile.open(file)) {
          DatasetFile.Entry e;
          while ((e = in.next()) != null) {
            records++;
            if (e.error() != null) {
              bad++;
            }
          }
        }
        double reader = (System.nanoTime() - started) / 1e9;
        if (reference == 0) {
          reference = gzipSeconds(file);
        }
        System.out.printf(Locale.ROOT, "%s round %d: DatasetFile %.2f s (%,d records, %,d"
            + " refused), %s %.2f s, ratio %.2f%n", file.getFileName(), round, reader, records,
            bad, file.equals(plain) ? "cat" : "gzip -dc", reference, reader / reference);
      }
    }
  }

  /** {@code gzip -dc FILE > /dev/null} (for a plain file: {@code cat}), in seconds. */
  private static double gzipSeconds(Path file) throws IOException, InterruptedException {
    boolean compressed = file.toString().endsWith(".gz");
    ProcessBuilder pb = new ProcessBuilder(compressed ? List.of("gzip", "-dc", file.toString())
        : List.of("cat", file.toString()))
        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
        .redirectError(ProcessBuilder.Redirect.INHERIT);
    long started = System.nanoTime();
    int rc = pb.start().waitFor();
    if (rc != 0) {
      throw new IOException(pb.command() + " exited with " + rc);
    }
    return (System.nanoTime() - started) / 1e9;
  }
}
