package io.continualsft.streams.cli;

import io.continualsft.streams.StreamsApp;
import io.continualsft.streams.config.StreamsAppConfig;
import java.nio.file.Path;
import java.util.concurrent.Callable;
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
    Runtime.getRuntime().addShutdownHook(new Thread(app::close, "streams-app-shutdown"));
    boolean failed = app.awaitStopped();
    return failed ? 1 : 0;
  }
}
