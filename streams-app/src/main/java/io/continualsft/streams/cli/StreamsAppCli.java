package io.continualsft.streams.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code java -jar streams-app.jar run|mask|produce ...} */
@Command(
    name = "streams-app",
    mixinStandardHelpOptions = true,
    version = "continual SFT streams-app 0.1.0",
    description = "Turns chat conversations into assistant-only labelled training examples.",
    subcommands = {RunCommand.class, MaskCommand.class, ProduceCommand.class})
public final class StreamsAppCli {
  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  public static CommandLine commandLine() {
    CommandLine cli = new CommandLine(new StreamsAppCli());
    cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
      // A bad config or model directory is the user's to fix: say what, not a stack trace.
      commandLine.getErr().println("error: " + e.getMessage());
      return 2;
    });
    return cli;
  }
}
