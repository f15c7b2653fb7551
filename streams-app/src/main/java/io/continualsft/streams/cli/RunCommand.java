package io.continualsft.streams.cli;

import io.continualsft.streams.StreamsApp;
import io.continualsft.streams.config.StreamsAppConfig;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.streams.KafkaStreams;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "run", mixinStandardHelpOptions = true,
    description = "Runs the Kafka Streams application until stopped (Ctrl-C / SIGTERM).")
final class RunCommand implements Callable<Integer> {
  @Option(names = "--config", description = "Properties file; SFT_* environment variables"
      + " override it (see the README's configuration reference).")
  Path config;

  @Override
  public Integer call() throws InterruptedException {
    StreamsAppConfig cfg = StreamsAppConfig.load(config, System.getenv());
    StreamsApp app = StreamsApp.start(cfg);
    CountDownLatch stopped = new CountDownLatch(1);
    app.streams().setStateListener((now, before) -> {
      if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
        stopped.countDown();
      }
    });
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      app.close();
      stopped.countDown();
    }, "streams-app-shutdown"));
    stopped.await();
    return app.streams().state() == KafkaStreams.State.ERROR ? 1 : 0;
  }
}
