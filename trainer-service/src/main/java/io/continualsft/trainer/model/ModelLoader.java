package io.continualsft.trainer.model;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.continualsft.trainer.safetensors.Safetensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Loads a Hugging Face model directory: {@code config.json} and {@code model.safetensors}, or the
 * shards listed by {@code model.safetensors.index.json}. Every problem names the file.
 */
public final class ModelLoader {
  private static final ObjectMapper JSON = new ObjectMapper();

  private ModelLoader() {}

  /**
   * The model of {@code dir} on {@code params}. Each tensor is read straight from its file into
   * the direct buffer the model keeps it in, one at a time: the whole model is never in the Java
   * heap, and no file page stays mapped. (Reading every tensor into float arrays first, from
   * mapped files, held a model three times at the peak: 2.2 GB of RSS for a 720 MB model.)
   */
  public static LlamaModel load(Path dir, NDManager params) {
    return load(dir, params, Precision.FP32);
  }

  /** As {@link #load(Path, NDManager)}, the base weights stored in {@code precision}. */
  public static LlamaModel load(Path dir, NDManager params, Precision precision) {
    Path configFile = dir.resolve("config.json");
    if (!Files.isRegularFile(configFile)) {
      throw new IllegalArgumentException(configFile + ": missing");
    }
    ModelConfig config = ModelConfig.read(configFile);
    List<Safetensors.Reader> readers = new ArrayList<>();
    try {
      Map<String, Weight> weights = new LinkedHashMap<>();
      files(dir).forEach((file, only) -> {
        Safetensors.Reader reader = Safetensors.open(file);
        readers.add(reader);
        for (Safetensors.TensorInfo info : reader.tensors().values()) {
          if (only == null || only.contains(info.name())) {
            weights.put(info.name(), Weight.read(info.shape(),
                () -> reader.readFloat32Direct(info.name()),
                (staging, sink) -> reader.readFloat32Slices(info.name(), staging, sink)));
          }
        }
        checkListed(file, reader, only);
      });
      return LlamaModel.fromWeights(config, weights, params, precision);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(dir + ": " + e.getMessage(), e);
    } finally {
      readers.forEach(Safetensors.Reader::close);
    }
  }

  /**
   * The safetensors files of {@code dir}, each with the tensors the index assigns to it, or
   * {@code null} (all of them) for a single {@code model.safetensors}.
   */
  private static Map<Path, Set<String>> files(Path dir) {
    Path single = dir.resolve("model.safetensors");
    Path index = dir.resolve("model.safetensors.index.json");
    Map<Path, Set<String>> files = new LinkedHashMap<>();
    if (Files.isRegularFile(single)) {
      files.put(single, null);
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
        files.put(shard, e.getValue());
      }
    } else {
      throw new IllegalArgumentException(dir + ": no model.safetensors or"
          + " model.safetensors.index.json");
    }
    return files;
  }

  private static void checkListed(Path file, Safetensors.Reader reader, Set<String> only) {
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
