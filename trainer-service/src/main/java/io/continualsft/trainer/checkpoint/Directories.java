package io.continualsft.trainer.checkpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;

/** Removing the scratch directories checkpoints are written through. */
public final class Directories {
  private Directories() {}

  /** Deletes {@code dir} and everything under it, deepest first. */
  public static void deleteTree(Path dir) throws IOException {
    try (var walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }
}
