package io.continualsft.trainer.model;

import io.continualsft.trainer.safetensors.Safetensors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Random models in Hugging Face format, for tests and the local default (no model can be
 * downloaded here): weights N(0, 0.02) as transformers initialises them ({@code initializer_range}),
 * norms 1, biases 0, from a fixed seed. The embedding's standard deviation can be raised: with a
 * frozen, tied embedding of std 0.02 a small model's logits cannot leave the uniform
 * distribution (|logit| &lt;= hidden × std), so an adapter on it could learn nothing visible.
 */
public final class ModelFactory {
  private ModelFactory() {}

  public static Map<String, Weight> randomWeights(ModelConfig config, long seed) {
    return randomWeights(config, seed, 0.02);
  }

  public static Map<String, Weight> randomWeights(ModelConfig config, long seed,
      double embeddingStd) {
    Map<String, Weight> weights = new LinkedHashMap<>();
    WeightNames.expected(config).forEach((name, shape) ->
        weights.put(name, new Weight(shape, randomValues(name, shape, seed, embeddingStd))));
    return weights;
  }

  /** The values of weight {@code name}: norms 1, biases 0, the rest Gaussian by its own seed. */
  static float[] randomValues(String name, long[] shape, long seed, double embeddingStd) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    float[] data = new float[Math.toIntExact(n)];
    if (name.endsWith("norm.weight")) {
      java.util.Arrays.fill(data, 1f);
    } else if (!name.endsWith(".bias")) {
      SplittableRandom random = new SplittableRandom(seed ^ (name.hashCode() * 0x9E3779B97F4A7C15L));
      double std = name.equals("model.embed_tokens.weight") || name.equals("lm_head.weight")
          ? embeddingStd : 0.02;
      for (int i = 0; i < data.length; i++) {
        data[i] = (float) (random.nextGaussian() * std);
      }
    }
    return data;
  }

  /**
   * Writes config.json and model.safetensors for a random model, and copies the tokenizer files
   * (tokenizer.json, tokenizer_config.json, chat_template.jinja, and any LICENSE or README that
   * travel with them) from {@code tokenizerDir}.
   */
  public static void write(Path out, ModelConfig config, long seed, Path tokenizerDir) {
    write(out, config, seed, 0.02, tokenizerDir);
  }

  public static void write(Path out, ModelConfig config, long seed, double embeddingStd,
      Path tokenizerDir) {
    try {
      Files.createDirectories(out);
      Files.writeString(out.resolve("config.json"),
          config.toJson().toPrettyString() + "\n");
      // One weight in memory at a time: a 1.5 B model is 6 GB of FP32.
      List<Safetensors.PendingTensor> tensors = new ArrayList<>();
      WeightNames.expected(config).forEach((name, shape) -> tensors.add(
          new Safetensors.PendingTensor(name, shape,
              () -> randomValues(name, shape, seed, embeddingStd))));
      Safetensors.writePending(out.resolve("model.safetensors"), tensors, Map.of("format", "pt"));
      for (String file : List.of("tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
          "LICENSE", "README.md")) {
        Path source = tokenizerDir.resolve(file);
        if (Files.isRegularFile(source)) {
          Path target = out.resolve(file.equals("README.md") ? "TOKENIZER-README.md" : file);
          Files.copy(source, target, StandardCopyOption.REPLACE_EXISTING);
          target.toFile().setWritable(true, true);
        } else if (file.equals("tokenizer.json")) {
          throw new IllegalArgumentException(source + ": missing");
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("could not write the model to " + out, e);
    }
  }

  /** The vocabulary size a tokenizer.json implies: its largest token id + 1. */
  public static int vocabSize(Path tokenizerJson) {
    try {
      var tree = new com.fasterxml.jackson.databind.ObjectMapper().readTree(tokenizerJson.toFile());
      int max = -1;
      var vocab = tree.path("model").path("vocab");
      for (var it = vocab.fields(); it.hasNext(); ) {
        max = Math.max(max, it.next().getValue().asInt());
      }
      for (var t : tree.path("added_tokens")) {
        max = Math.max(max, t.path("id").asInt());
      }
      if (max < 0) {
        throw new IllegalArgumentException(tokenizerJson + ": no vocabulary found");
      }
      return max + 1;
    } catch (IOException e) {
      throw new UncheckedIOException("could not read " + tokenizerJson, e);
    }
  }
}
