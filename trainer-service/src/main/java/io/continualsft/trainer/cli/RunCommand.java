package io.continualsft.trainer.cli;

import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.service.TrainerService;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "run", mixinStandardHelpOptions = true,
    description = "Trains the configured adapter continually from the examples topic and publishes"
        + " checkpoints, until stopped (Ctrl-C / SIGTERM publish a last checkpoint).")
final class RunCommand implements Callable<Integer> {
  @Option(names = "--config", description = "Properties file; SFT_* environment variables override it.")
  Path config;

  @Override
  public Integer call() {
    TrainerSettings cfg = TrainerConfig.load(config, System.getenv());
    AtomicBoolean stop = new AtomicBoolean();
    CountDownLatch finished = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      stop.set(true);
      try {
        finished.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "trainer-shutdown"));
    try (TrainerService service = TrainerService.create(cfg)) {
      service.run(stop::get);
      return 0;
    } catch (ProducerFencedException | InvalidProducerEpochException e) {
      System.err.println("error: another trainer with transactional id "
          + cfg.kafka().transactionalId() + " took over adapter " + cfg.adapter()
          + "; this one stops (" + e.getMessage() + ")");
      return 3;
    } finally {
      finished.countDown();
    }
  }
}
