package io.continualsft.trainer.safetensors;

import java.nio.file.Path;

/** A safetensors file that cannot be read as such; names the file and the problem. */
public final class SafetensorsException extends RuntimeException {
  public SafetensorsException(Path file, String problem) {
    super(file + ": " + problem);
  }
}
