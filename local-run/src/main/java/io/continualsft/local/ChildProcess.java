package io.continualsft.local;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * A service started as a child process, its stdout and stderr going to one log file. Every child
 * still alive when this JVM exits (normally, on an uncaught error, or on Ctrl-C / SIGTERM) is
 * stopped by a shutdown hook, so nothing outlives the test run or the local default. A SIGKILL of
 * this JVM cannot run hooks and would orphan its children: tests that simulate a crash kill a
 * child, never the JVM that owns them.
 */
public final class ChildProcess {
  private static final Set<ChildProcess> LIVE = ConcurrentHashMap.newKeySet();

  static {
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  for (ChildProcess child : List.copyOf(LIVE)) {
                    child.stop(Duration.ofSeconds(10));
                  }
                },
                "stop-child-processes"));
  }

  private final String name;
  private final Process process;
  private final Path logFile;

  private ChildProcess(String name, Process process, Path logFile) {
    this.name = name;
    this.process = process;
    this.logFile = logFile;
  }

  /** Starts {@code command} in {@code workDir}, appending its output to {@code logFile}. */
  public static ChildProcess start(String name, List<String> command, Path workDir, Path logFile) {
    return start(name, command, workDir, logFile, java.util.Map.of());
  }

  /** As {@link #start(String, List, Path, Path)}, with extra environment variables. */
  public static ChildProcess start(String name, List<String> command, Path workDir, Path logFile,
      java.util.Map<String, String> environment) {
    try {
      Files.createDirectories(logFile.getParent());
      ProcessBuilder builder =
          new ProcessBuilder(command)
              .directory(workDir.toFile())
              .redirectErrorStream(true)
              .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
              .redirectInput(ProcessBuilder.Redirect.PIPE);
      builder.environment().putAll(environment);
      Process process = builder.start();
      ChildProcess child = new ChildProcess(name, process, logFile);
      LIVE.add(child);
      return child;
    } catch (IOException e) {
      throw new UncheckedIOException("could not start " + name + ": " + command.get(0), e);
    }
  }

  /** Runs {@code command} to completion; fails with the log tail when it exits non-zero. */
  public static void run(String name, List<String> command, Path workDir, Path logFile,
      Duration timeout) {
    ChildProcess child = start(name, command, workDir, logFile);
    try {
      if (!child.process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        child.kill();
        throw new IllegalStateException(
            name + " did not finish within " + timeout + "; last log lines:\n" + child.logTail(40));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      child.kill();
      throw new IllegalStateException("interrupted while running " + name, e);
    } finally {
      LIVE.remove(child);
    }
    if (child.process.exitValue() != 0) {
      throw new IllegalStateException(
          name + " exited with " + child.process.exitValue() + "; last log lines:\n"
              + child.logTail(40));
    }
  }

  public String name() {
    return name;
  }

  public long pid() {
    return process.pid();
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  public Path logFile() {
    return logFile;
  }

  /** SIGTERM, then SIGKILL if it has not exited within {@code grace}. */
  public void stop(Duration grace) {
    try {
      if (process.isAlive()) {
        process.destroy();
        if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
          process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      process.destroyForcibly();
    } finally {
      LIVE.remove(this);
    }
  }

  /** SIGKILL: no shutdown of any kind, as a crash. Waits until the process is gone. */
  public void kill() {
    process.destroyForcibly();
    try {
      process.waitFor(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      LIVE.remove(this);
    }
  }

  /** The last {@code lines} lines of the log, for error messages. */
  public String logTail(int lines) {
    try {
      if (!Files.exists(logFile)) {
        return "(no log at " + logFile + ")";
      }
      // Decoded leniently: a child may print bytes that are not UTF-8.
      List<String> all = new String(Files.readAllBytes(logFile), StandardCharsets.UTF_8).lines().toList();
      List<String> tail = new ArrayList<>(all.subList(Math.max(0, all.size() - lines), all.size()));
      return String.join("\n", tail);
    } catch (IOException | UncheckedIOException e) {
      return "(could not read " + logFile + ": " + e.getMessage() + ")";
    }
  }

  @Override
  public String toString() {
    return name + " (pid " + pid() + ", log " + logFile + ")";
  }
}
