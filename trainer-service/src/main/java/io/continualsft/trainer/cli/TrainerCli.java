package io.continualsft.trainer.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code java -jar trainer-service.jar run|pull|release|releases|init-model|eval-loss|generate} */
@Command(
    name = "trainer-service",
    mixinStandardHelpOptions = true,
    version = "continual SFT trainer-service 0.1.0",
    description = "LoRA fine-tuning of a Llama-family model on DJL + PyTorch.",
    subcommands = {RunCommand.class, PullCommand.class, ReleaseCommand.class,
        ReleasesCommand.class, InitModelCommand.class,
        EvalLossCommand.class, GenerateCommand.class})
public final class TrainerCli {
  public static void main(String[] args) {
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
