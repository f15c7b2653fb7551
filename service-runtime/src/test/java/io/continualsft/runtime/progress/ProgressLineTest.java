package io.continualsft.runtime.progress;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** A bar with an ETA on a terminal, plain lines elsewhere. */
class ProgressLineTest {
  private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
  private final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
  private final AtomicLong now = new AtomicLong(0);

  private String printed() {
    return bytes.toString(StandardCharsets.UTF_8);
  }

  @Test
  void onATerminalOneLineIsRedrawnWithABarAndAnEtaFromTheRateSoFar() {
    ProgressLine line = new ProgressLine(out, true, now::get);
    line.update(0, "starting");
    now.set(30_000_000_000L); // 30 s for the first quarter: 90 s left
    line.update(0.25, "step 10");
    line.done();
    assertThat(printed()).isEqualTo("\r[                        ]   0%  ETA --:--  starting\u001b[K"
        + "\r[######                  ]  25%  ETA 1:30  step 10\u001b[K" + System.lineSeparator());
  }

  @Test
  void elsewhereEachNewStatusIsOnePlainLine() {
    ProgressLine line = new ProgressLine(out, false, now::get);
    line.update(0.1, "a");
    line.update(0.2, "a");
    line.update(0.3, "b");
    line.done();
    assertThat(printed()).isEqualTo("a" + System.lineSeparator() + "b" + System.lineSeparator());
  }

  @Test
  void fractionsOutsideZeroToOneAreClamped() {
    ProgressLine line = new ProgressLine(out, true, now::get);
    now.set(1);
    line.update(7, "over");
    line.update(Double.NaN, "nan");
    assertThat(printed()).contains("] 100%  ETA 0:00  over", "]   0%  ETA --:--  nan");
  }
}
