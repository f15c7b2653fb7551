package io.continualsft.runtime.progress;

import java.io.PrintStream;
import java.time.Duration;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * Progress of long work, the way a terminal and a log each want it: on a terminal one line
 * redrawn in place ({@code \r}), a bar, the percentage, the status and an ETA from the rate so
 * far; anywhere else (a file, a pipe, CI) plain lines, each printed once and only when the
 * status changes. The commands' own lines (steps, checkpoints) print as they always do.
 *
 * <p>Written here rather than taken from a library: the terminal test is one call, and a bar is
 * twenty lines, where the progress-bar libraries on Maven Central bring their own threads and
 * terminal handling.
 */
public final class ProgressLine {
  private static final int WIDTH = 24;

  private final PrintStream out;
  private final boolean terminal;
  private final LongSupplier nanoTime;
  private final long started;
  private String last = "";
  private boolean drawn;

  ProgressLine(PrintStream out, boolean terminal, LongSupplier nanoTime) {
    this.out = out;
    this.terminal = terminal;
    this.nanoTime = nanoTime;
    this.started = nanoTime.getAsLong();
  }

  /** Progress on {@code out}: a bar where standard output is a terminal, plain lines otherwise. */
  public static ProgressLine on(PrintStream out) {
    return new ProgressLine(out, isTerminal(), System::nanoTime);
  }

  /** Whether this JVM's standard streams are a terminal (not a file or a pipe). */
  public static boolean isTerminal() {
    java.io.Console console = System.console();
    if (console == null) {
      return false;
    }
    try {
      // JDK 22+ returns a Console for redirected streams too and says so here.
      return (Boolean) java.io.Console.class.getMethod("isTerminal").invoke(console);
    } catch (ReflectiveOperationException e) {
      return true; // JDK 21: a console exists only on a terminal
    }
  }

  /**
   * {@code fraction} (0 to 1) of the work is done; {@code status} says what. On a terminal the
   * line is redrawn; otherwise {@code status} is printed when it differs from the last one.
   */
  public void update(double fraction, String status) {
    double f = Double.isFinite(fraction) ? Math.max(0, Math.min(1, fraction)) : 0;
    if (!terminal) {
      if (!status.equals(last)) {
        out.println(status);
        last = status;
      }
      return;
    }
    int filled = (int) Math.round(f * WIDTH);
    out.print("\r[" + "#".repeat(filled) + " ".repeat(WIDTH - filled) + "] "
        + String.format(Locale.ROOT, "%3d%%", Math.round(f * 100)) + "  ETA "
        + eta(f) + "  " + status + "\u001b[K");
    out.flush();
    drawn = true;
    last = status;
  }

  /** Ends the redrawn line, so what follows starts on a line of its own. */
  public void done() {
    if (terminal && drawn) {
      out.println();
      drawn = false;
    }
  }

  /** {@code m:ss} left at the rate so far; {@code --:--} before there is a rate. */
  String eta(double fraction) {
    long elapsed = nanoTime.getAsLong() - started;
    if (fraction <= 0 || elapsed <= 0) {
      return "--:--";
    }
    Duration left = Duration.ofNanos((long) (elapsed * (1 - fraction) / fraction));
    return String.format(Locale.ROOT, "%d:%02d", left.toMinutes(), left.toSecondsPart());
  }
}
