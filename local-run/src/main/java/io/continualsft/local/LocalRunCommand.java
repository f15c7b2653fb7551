package io.continualsft.local;

import io.continualsft.runtime.config.ClientConfigFile;
import io.continualsft.trainer.model.Engines;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/** README command 1: {@code ./mvnw -Plocal package} runs this with {@code -Dlocal.args=...}. */
@Command(
    name = "local",
    mixinStandardHelpOptions = true,
    description = "Runs continual SFT locally: broker, registry, streams app, trainer, pull.")
public final class LocalRunCommand implements Callable<Integer> {
  @Option(names = "--work-dir", description = "Where this run keeps its files and logs"
      + " (default: ${DEFAULT-VALUE}).", defaultValue = "target/local-run")
  Path workDir;

  @Option(names = "--model", description = "A Hugging Face model directory (config.json,"
      + " model.safetensors, tokenizer.json, tokenizer_config.json) to label and train with"
      + " (default: a small random Qwen3-architecture model generated with --tokenizer).")
  Path model;

  @Option(names = "--tokenizer", description = "Tokenizer and chat template of the generated"
      + " model (default: the bundled Qwen3 tokenizer, Apache-2.0).",
      defaultValue = "../tokenizers/qwen3")
  Path tokenizer;

  @Option(names = "--input", description = "Conversations JSONL to send, one"
      + " {\"id\", \"conversations\": [{\"role\", \"content\"}, ...]} per line (default: the"
      + " bundled sample, 309 lines: 300 conversations, 6 bad ones, 3 repeats).")
  Path input;

  @Option(names = "--retention", description = "Conversations JSONL the adapter must keep being"
      + " good at: the release gate scores every candidate on them (default: the bundled"
      + " house-style retention set with the bundled sample; none with --input).")
  Path retention;

  @Option(names = "--bootstrap", description = "An existing Kafka cluster to use instead of"
      + " starting one (topics get a per-run suffix so runs do not mix).")
  String bootstrap;

  @Option(names = "--registry", description = "An existing schema registry (Confluent API base"
      + " URL) to use instead of starting one.")
  String registryUrl;

  @Option(names = "--client-config", description = "With --bootstrap / --registry: Kafka client"
      + " properties (security.protocol, sasl.*, ssl.*) and the registry's keys (basic.auth.*,"
      + " bearer.auth.*, schema.registry.ssl.*) for every client of the run.")
  Path clientConfig;

  @Option(names = "--lr", defaultValue = "0.02", description = "Learning rate (default:"
      + " ${DEFAULT-VALUE}; high, because the generated model is small and random).")
  double learningRate;

  @Option(names = "--lora-r", defaultValue = "16", description = "LoRA rank (default:"
      + " ${DEFAULT-VALUE}); alpha is twice the rank.")
  int loraR;

  @Option(names = "--hidden", defaultValue = "256", description = "Hidden size of the generated"
      + " model (default: ${DEFAULT-VALUE}).")
  int hidden;

  @Option(names = "--replay", defaultValue = "0.9", description = "replay.fraction: share of each"
      + " step's examples drawn back from those already trained (default: ${DEFAULT-VALUE}, so"
      + " a sample of 300 conversations is seen about five times, enough for the small model to"
      + " answer in its house style; 0: each example once).")
  double replay;

  @Option(names = "--step-tokens", defaultValue = "32", description = "Trained tokens per"
      + " optimizer step (default: ${DEFAULT-VALUE}; small, so a few hundred conversations make"
      + " enough steps to show a trend).")
  int stepTokens;

  @Option(names = "--timeout-minutes", defaultValue = "20",
      description = "Give up if the pipeline has not drained by then (default: ${DEFAULT-VALUE}).")
  long timeoutMinutes;

  @Option(names = "--keep-running", description = "After the summary keep every service running"
      + " (produce more with `streams-app produce`) until Ctrl-C.")
  boolean keepRunning;

  private RunSummary.Summary summary;

  public static void main(String[] args) {
    CommandLine cli = new CommandLine(new LocalRunCommand());
    cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
      // What the run could explain (a bad option, a stage that did not finish) needs no trace.
      if (!(e instanceof IllegalArgumentException || e instanceof IllegalStateException)) {
        throw e;
      }
      commandLine.getErr().println("error: " + e.getMessage());
      return 1;
    });
    System.exit(cli.execute(args));
  }

  @Override
  public Integer call() throws Exception {
    Engines.configure(); // before anything loads the engine
    // On Ctrl-C the children's own hooks stop the broker and the registry; this one says so.
    Thread interrupted = new Thread(
        () -> System.out.println("Interrupted: stopping everything this run started."),
        "local-run-interrupted");
    Runtime.getRuntime().addShutdownHook(interrupted);
    try {
      summary = new LocalRun(new LocalRun.Options(workDir, model, tokenizer, input, retention,
          bootstrap,
          registryUrl, ClientConfigFile.read(clientConfig), learningRate, loraR, hidden,
          stepTokens, replay, timeoutMinutes, keepRunning))
          .run();
      return 0;
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(interrupted);
      } catch (IllegalStateException shuttingDown) {
        // Ctrl-C: the hook is running or has run
      }
    }
  }

  /** What the last run ended with, as printed; null before a run has finished. */
  public RunSummary.Summary summary() {
    return summary;
  }
}
