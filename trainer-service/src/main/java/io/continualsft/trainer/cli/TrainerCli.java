package io.continualsft.trainer.cli;

import io.continualsft.trainer.model.Engines;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code java -jar trainer-service.jar run|train|pull|release|releases|init-model|eval-loss|generate} */
@Command(
    name = "trainer-service",
    mixinStandardHelpOptions = true,
    version = "continual SFT trainer-service 0.1.0",
    description = "LoRA fine-tuning of a Llama-family model on DJL + PyTorch.",
    subcommands = {RunCommand.class, TrainCommand.class, PullCommand.class, ReleaseCommand.class,
        ReleasesCommand.class, ReportCommand.class, ForgetCommand.class, LineageCommand.class,
        PurgeCommand.class, InitModelCommand.class, EvalLossCommand.class,
        GenerateCommand.class})
public final class TrainerCli {
  /** Commands whose output is for a person: the Kafka clients' INFO config dumps would bury it. */
  private static final java.util.Set<String> QUIET = java.util.Set.of("pull", "release",
      "releases", "report", "forget", "lineage", "purge");

  public static void main(String[] args) {
    if (args.length > 0 && QUIET.contains(args[0])) {
      // Before any logger exists; a -D on the command line still wins.
      System.getProperties().putIfAbsent("org.slf4j.simpleLogger.log.org.apache.kafka", "warn");
    }
    System.exit(commandLine().execute(args));
  }

  public static CommandLine commandLine() {
    Engines.configure();
    CommandLine cli = new CommandLine(new TrainerCli());
    cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
      commandLine.getErr().println("error: " + e.getMessage());
      return 2;
    });
    return cli;
  }
}
