package io.continualsft.chat.format;

import java.nio.file.Path;

/** A model directory is missing a file or holds one that cannot be used; names the file. */
public final class ModelDirectoryException extends RuntimeException {
  public ModelDirectoryException(Path file, String problem) {
    super(file + ": " + problem);
  }

  public ModelDirectoryException(Path file, String problem, Throwable cause) {
    super(file + ": " + problem, cause);
  }
}
