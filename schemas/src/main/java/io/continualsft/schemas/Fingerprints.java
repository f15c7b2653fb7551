package io.continualsft.schemas;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * sha256 in lower-case hex: the one definition of the fingerprints and checksums the records carry
 * (tokenizer and template fingerprints in SftExample, file checksums in checkpoint manifests). The
 * streams app and the trainer compare these, so they must be computed the same way.
 */
public final class Fingerprints {
  private Fingerprints() {}

  public static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK has no SHA-256", e);
    }
  }

  public static String sha256(Path file) {
    try {
      return sha256(Files.readAllBytes(file));
    } catch (IOException e) {
      throw new UncheckedIOException(file + ": unreadable", e);
    }
  }
}
