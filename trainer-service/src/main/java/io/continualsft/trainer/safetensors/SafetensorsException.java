package io.continualsft.trainer.safetensors;

import java.nio.file.Path;

/** Safetensors bytes that cannot be read as such; names where they came from and the problem. */
public final class SafetensorsException extends RuntimeException {
  public SafetensorsException(Path file, String problem) {
    this(file.toString(), problem);
  }

  public SafetensorsException(String source, String problem) {
    super(source + ": " + problem);
  }
}
