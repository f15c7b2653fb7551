package io.continualsft.trainer.model;

import io.continualsft.schemas.Fingerprints;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Which base model and tokenizer an adapter belongs to: the name written into
 * adapter_config.json, and fingerprints that examples and checkpoints are checked against.
 */
public record ModelIdentity(String baseModelName, String baseFingerprint,
    String tokenizerFingerprint) {

  /** The identity of the model directory {@code dir}, called {@code name} in adapters. */
  public static ModelIdentity of(Path dir, String name) {
    return new ModelIdentity(name, baseFingerprint(dir),
        Fingerprints.sha256(dir.resolve("tokenizer.json")));
  }

  /**
   * sha256 over config.json and each weight file's safetensors header and size: cheap at start-up
   * for a model of any size, and changed by any change of architecture, names, shapes or dtypes.
   */
  public static String baseFingerprint(Path dir) {
    try {
      StringBuilder sb = new StringBuilder();
      sb.append(Fingerprints.sha256(Files.readAllBytes(dir.resolve("config.json"))));
      try (var files = Files.list(dir)) {
        for (Path f : files.filter(p -> p.getFileName().toString().endsWith(".safetensors"))
            .sorted().toList()) {
          try (FileChannel ch = FileChannel.open(f)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(len, 0);
            long n = Math.min(len.flip().getLong(), 100_000_000L);
            ByteBuffer header = ByteBuffer.allocate((int) Math.max(0, n));
            ch.read(header, 8);
            sb.append(f.getFileName()).append(ch.size())
                .append(Fingerprints.sha256(header.array()));
          }
        }
      }
      return Fingerprints.sha256(sb.toString().getBytes(StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException("could not fingerprint " + dir, e);
    }
  }
}
