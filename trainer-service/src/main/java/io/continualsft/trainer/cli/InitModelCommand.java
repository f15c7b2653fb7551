package io.continualsft.trainer.cli;

import io.continualsft.trainer.model.ModelConfig;
import io.continualsft.trainer.model.ModelFactory;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "init-model", mixinStandardHelpOptions = true,
    description = "Writes a random-initialised model in Hugging Face format (config.json,"
        + " model.safetensors and the tokenizer files), for tests and local runs.")
final class InitModelCommand implements Callable<Integer> {
  @Option(names = "--arch", required = true, description = "llama, qwen2 or qwen3.")
  String arch;

  @Option(names = "--hidden", required = true) int hidden;

  @Option(names = "--layers", required = true) int layers;

  @Option(names = "--heads", required = true) int heads;

  @Option(names = "--kv-heads", required = true) int kvHeads;

  @Option(names = "--intermediate", required = true) int intermediate;

  @Option(names = "--head-dim", description = "Default: hidden / heads.") Integer headDim;

  @Option(names = "--tokenizer", required = true,
      description = "Directory with tokenizer.json and tokenizer_config.json to copy.")
  Path tokenizer;

  @Option(names = "--out", required = true) Path out;

  @Option(names = "--seed", defaultValue = "0", description = "Default: ${DEFAULT-VALUE}.") long seed;

  @Option(names = "--embedding-std", defaultValue = "0.02", description = "Std of the random"
      + " embedding (default: ${DEFAULT-VALUE}, transformers' initializer_range); raise it (e.g. 1.0)"
      + " for a small model whose adapter should visibly learn.")
  double embeddingStd;

  // A plain flag: picocli's negatable --[no-]tie-embeddings with a default of true left the
  // head tied when --no-tie-embeddings was given (TrainerCliTest).
  @Option(names = "--no-tie-embeddings", description = "Give the LM head its own weight instead"
      + " of sharing the embedding (the default shares it).")
  boolean untie;

  @Override
  public Integer call() {
    if (!arch.equals("llama") && !arch.equals("qwen2") && !arch.equals("qwen3")) {
      throw new IllegalArgumentException("--arch must be llama, qwen2 or qwen3, got " + arch);
    }
    int vocab = ModelFactory.vocabSize(tokenizer.resolve("tokenizer.json"));
    ModelConfig config = ModelConfig.of(arch, vocab, hidden, intermediate, layers, heads, kvHeads,
        headDim != null ? headDim : hidden / heads, !untie);
    ModelFactory.write(out, config, seed, embeddingStd, tokenizer);
    System.out.printf("init-model: %s, %,d parameters (vocab %d), written to %s%n", arch,
        config.parameterCount(), vocab, out);
    return 0;
  }
}
