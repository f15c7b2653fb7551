package io.continualsft.local;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * The life of a service run as a child process (the broker, the registry): started and waited
 * for until its probe says it serves, stopped or killed, started again, its log at hand. A
 * service that exits while starting, or is not ready in time, fails with its log's last lines.
 */
final class ServiceProcess {
  /** Whether the service serves yet; an exception means not yet. */
  @FunctionalInterface
  interface Probe {
    boolean ready() throws Exception;
  }

  private final String name;
  private final String description;
  private final Duration readyTimeout;
  private final Duration pollEvery;
  private ChildProcess process;
  private Duration lastStartup = Duration.ZERO;

  /** {@code description} names the service in errors ("the Kafka broker at 127.0.0.1:9092"). */
  ServiceProcess(String name, String description, Duration readyTimeout, Duration pollEvery) {
    this.name = name;
    this.description = description;
    this.readyTimeout = readyTimeout;
    this.pollEvery = pollEvery;
  }

  /** Starts {@code command} in {@code dir}, logging to {@code log}, and waits until {@code probe}. */
  void launch(List<String> command, Path dir, Path log, Probe probe) {
    Instant begin = Instant.now();
    process = ChildProcess.start(name, command, dir, log);
    Instant deadline = begin.plus(readyTimeout);
    while (true) {
      if (!process.isAlive()) {
        throw new IllegalStateException(description + " exited during start-up; last log lines ("
            + process.logFile() + "):\n" + process.logTail(60));
      }
      try {
        if (probe.ready()) {
          lastStartup = Duration.between(begin, Instant.now());
          return;
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for " + description, e);
      } catch (Exception notYet) {
        // not serving yet
      }
      if (Instant.now().isAfter(deadline)) {
        process.stop(Duration.ofSeconds(5));
        throw new IllegalStateException(description + " was not ready within "
            + readyTimeout.toSeconds() + " s; last log lines (" + process.logFile() + "):\n"
            + process.logTail(60));
      }
      try {
        Thread.sleep(pollEvery.toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for " + description, e);
      }
    }
  }

  /** How long the last (re)start took until the service answered. */
  Duration lastStartup() {
    return lastStartup;
  }

  boolean isRunning() {
    return process != null && process.isAlive();
  }

  long pid() {
    return process.pid();
  }

  /** SIGTERM, then SIGKILL after {@code grace}; waits for the process to exit. */
  void stop(Duration grace) {
    if (process != null) {
      process.stop(grace);
    }
  }

  /** SIGKILL, as a crash. */
  void kill() {
    if (process != null) {
      process.kill();
    }
  }

  String logTail(int lines) {
    return process == null ? "(not started)" : process.logTail(lines);
  }
}
