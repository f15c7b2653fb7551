package io.continualsft.it.support;

import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.atomic.AtomicInteger;

/** Per-run working directories under the module's build directory, kept for post-mortems. */
public final class TestDirs {
  private static final String RUN =
      LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
  private static final AtomicInteger COUNTER = new AtomicInteger();

  private TestDirs() {}

  public static Path fresh(String name) {
    return Path.of("target", "it-work", RUN, name + "-" + COUNTER.incrementAndGet())
        .toAbsolutePath();
  }
}
