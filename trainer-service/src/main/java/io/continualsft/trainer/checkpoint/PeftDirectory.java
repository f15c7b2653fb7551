package io.continualsft.trainer.checkpoint;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;

/**
 * A checkpoint's adapter as a PEFT directory ({@code adapter_config.json} and {@code
 * adapter_model.safetensors}) where PEFT and vLLM load it: written into a temporary sibling and
 * renamed over the target, so a reader never sees a half-written adapter.
 */
public final class PeftDirectory {
  private PeftDirectory() {}

  public static void write(Checkpoint c, Path target) {
    for (String file : List.of(Checkpoint.ADAPTER_CONFIG, Checkpoint.ADAPTER_WEIGHTS)) {
      if (!c.files().containsKey(file)) {
        throw new IllegalStateException("checkpoint v" + c.version() + " of adapter " + c.adapter()
            + " has no " + file);
      }
    }
    try {
      Path parent = target.toAbsolutePath().getParent();
      Files.createDirectories(parent);
      Path tmp = Files.createTempDirectory(parent, "." + target.getFileName() + ".tmp");
      for (String file : List.of(Checkpoint.ADAPTER_CONFIG, Checkpoint.ADAPTER_WEIGHTS)) {
        Files.write(tmp.resolve(file), c.files().get(file));
      }
      if (Files.exists(target)) {
        Path old = Files.createTempDirectory(parent, "." + target.getFileName() + ".old");
        Files.move(target, old.resolve("d"), StandardCopyOption.ATOMIC_MOVE);
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(old);
      } else {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("could not write the adapter to " + target, e);
    }
  }

  /** Points the symbolic link {@code link} at {@code target}, replacing it atomically. */
  public static void link(Path link, Path target) {
    try {
      Path tmp = link.resolveSibling("." + link.getFileName() + ".tmp");
      Files.deleteIfExists(tmp);
      Files.createSymbolicLink(tmp, target);
      Files.move(tmp, link, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      throw new UncheckedIOException("could not point " + link + " at " + target, e);
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    try (var walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }
}
