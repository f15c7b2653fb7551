package io.continualsft.trainer.model;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.continualsft.trainer.safetensors.Safetensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * Loads a Hugging Face model directory: {@code config.json} and {@code model.safetensors}, or the
 * shards listed by {@code model.safetensors.index.json}. Every problem names the file.
 */
public final class ModelLoader {
  private static final ObjectMapper JSON = new ObjectMapper();

  private ModelLoader() {}

  public static LlamaModel load(Path dir, NDManager params) {
    Path configFile = dir.resolve("config.json");
    if (!Files.isRegularFile(configFile)) {
      throw new IllegalArgumentException(configFile + ": missing");
    }
    ModelConfig config = ModelConfig.read(configFile);
    Map<String, Weight> weights = readWeights(dir);
    try {
      return LlamaModel.fromWeights(config, weights, params);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(dir + ": " + e.getMessage(), e);
    }
  }

  /** All tensors of the directory's safetensors file(s), converted to float32. */
  public static Map<String, Weight> readWeights(Path dir) {
    Path single = dir.resolve("model.safetensors");
    Path index = dir.resolve("model.safetensors.index.json");
    Map<String, Weight> weights = new LinkedHashMap<>();
    if (Files.isRegularFile(single)) {
      readFile(single, null, weights);
    } else if (Files.isRegularFile(index)) {
      JsonNode map;
      try {
        map = JSON.readTree(Files.readString(index)).path("weight_map");
      } catch (IOException e) {
        throw new IllegalArgumentException(index + ": not readable JSON: " + e.getMessage(), e);
      }
      Map<String, TreeSet<String>> byFile = new LinkedHashMap<>();
      map.fields().forEachRemaining(e ->
          byFile.computeIfAbsent(e.getValue().asText(), f -> new TreeSet<>()).add(e.getKey()));
      if (byFile.isEmpty()) {
        throw new IllegalArgumentException(index + ": weight_map is empty");
      }
      for (Map.Entry<String, TreeSet<String>> e : byFile.entrySet()) {
        Path shard = dir.resolve(e.getKey());
        if (!Files.isRegularFile(shard)) {
          throw new IllegalArgumentException(shard + ": missing (listed in " + index.getFileName() + ")");
        }
        readFile(shard, e.getValue(), weights);
      }
    } else {
      throw new IllegalArgumentException(dir + ": no model.safetensors or"
          + " model.safetensors.index.json");
    }
    return weights;
  }

  private static void readFile(Path file, java.util.Set<String> only, Map<String, Weight> out) {
    try (Safetensors.Reader reader = Safetensors.open(file)) {
      for (Safetensors.TensorInfo info : reader.tensors().values()) {
        if (only != null && !only.contains(info.name())) {
          continue;
        }
        out.put(info.name(), new Weight(info.shape(), reader.readFloats(info.name())));
      }
      if (only != null) {
        for (String name : only) {
          if (!reader.tensors().containsKey(name)) {
            throw new IllegalArgumentException(file + ": lacks " + name
                + ", which the index says it holds");
          }
        }
      }
    }
  }
}
