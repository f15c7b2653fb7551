package io.continualsft.trainer.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.continualsft.trainer.model.Batch;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a checkpoint's {@code trainer_state.json} records besides the adapter and the optimizer
 * moments: the step counters, the totals, the offsets trained through and the held-out examples,
 * so a restarted trainer continues exactly where the checkpoint was cut.
 *
 * @param offsets next offset to read, by "topic:partition"
 * @param examplesReplayed examples drawn back from earlier in the stream (replay), counted apart
 *     from {@code examplesTrained}, which counts each new example once
 * @param trainedThrough by "topic:partition", one past the last example trained in a finished
 *     step: replay draws from before it
 */
public record TrainingState(String adapter, long version, long step, long optimizerSteps,
    long examplesTrained, long tokensTrained, long skippedSteps, long examplesInSkippedSteps,
    long examplesReplayed, long tokensReplayed, long seed, Map<String, Long> offsets,
    Map<String, Long> trainedThrough, List<Batch.Example> evalSet) {
  private static final ObjectMapper JSON = new ObjectMapper();

  public TrainingState {
    offsets = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(offsets));
    trainedThrough = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(trainedThrough));
    evalSet = List.copyOf(evalSet);
  }

  /** The same state, as checkpoint {@code version} records it (an erasure's rewind point). */
  public TrainingState withVersion(long version) {
    return new TrainingState(adapter, version, step, optimizerSteps, examplesTrained,
        tokensTrained, skippedSteps, examplesInSkippedSteps, examplesReplayed, tokensReplayed,
        seed, offsets, trainedThrough, evalSet);
  }

  /** trainer_state.json, pretty-printed, fields in a fixed order. */
  public byte[] toJson() {
    ObjectNode s = JSON.createObjectNode();
    s.put("adapter", adapter);
    s.put("version", version);
    s.put("step", step);
    s.put("optimizer_steps", optimizerSteps);
    s.put("examples_trained", examplesTrained);
    s.put("tokens_trained", tokensTrained);
    s.put("skipped_steps", skippedSteps);
    s.put("examples_in_skipped_steps", examplesInSkippedSteps);
    s.put("examples_replayed", examplesReplayed);
    s.put("tokens_replayed", tokensReplayed);
    s.put("seed", seed);
    ObjectNode o = s.putObject("offsets");
    offsets.forEach(o::put);
    ObjectNode t = s.putObject("trained_through");
    trainedThrough.forEach(t::put);
    ArrayNode eval = s.putArray("eval_set");
    for (Batch.Example e : evalSet) {
      ObjectNode x = eval.addObject();
      ArrayNode ids = x.putArray("input_ids");
      for (int id : e.ids()) {
        ids.add(id);
      }
      ArrayNode labels = x.putArray("labels");
      for (int l : e.labels()) {
        labels.add(l);
      }
      if (e.rating() != Batch.Rating.NONE) { // a KTO adapter's held-out rated turn
        x.put("rating", e.rating() == Batch.Rating.DESIRABLE ? "desirable" : "undesirable");
      }
    }
    try {
      return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(s);
    } catch (IOException e) {
      throw new UncheckedIOException(e); // a tree of strings and numbers always serialises
    }
  }

  /** Reads trainer_state.json; {@code where} names the checkpoint in errors. */
  public static TrainingState fromJson(byte[] json, String where) {
    JsonNode s;
    try {
      s = JSON.readTree(json);
    } catch (IOException e) {
      throw new IllegalArgumentException(where + ": trainer_state.json is not JSON: "
          + e.getMessage(), e);
    }
    Map<String, Long> offsets = new LinkedHashMap<>();
    s.path("offsets").properties().forEach(e -> offsets.put(e.getKey(), e.getValue().asLong()));
    Map<String, Long> trainedThrough = new LinkedHashMap<>();
    s.path("trained_through").properties().forEach(e -> {
      if (!e.getKey().matches(".+:\\d{1,9}")) {
        throw new IllegalArgumentException(where + ": trainer_state.json trained_through key "
            + e.getKey() + " is not topic:partition");
      }
      trainedThrough.put(e.getKey(), e.getValue().asLong());
    });
    List<Batch.Example> eval = new ArrayList<>();
    for (JsonNode e : s.path("eval_set")) {
      int[] ids = ints(e.path("input_ids"));
      int[] labels = ints(e.path("labels"));
      Batch.Rating rating = switch (e.path("rating").asText("")) {
        case "" -> Batch.Rating.NONE;
        case "desirable" -> Batch.Rating.DESIRABLE;
        case "undesirable" -> Batch.Rating.UNDESIRABLE;
        default -> throw new IllegalArgumentException(where + ": trainer_state.json eval_set"
            + " rating " + e.path("rating") + " is not desirable or undesirable");
      };
      try {
        eval.add(new Batch.Example(ids, labels, rating));
      } catch (IllegalArgumentException bad) {
        throw new IllegalArgumentException(where + ": trainer_state.json eval_set: "
            + bad.getMessage(), bad);
      }
    }
    return new TrainingState(s.path("adapter").asText(""), s.path("version").asLong(),
        s.path("step").asLong(), s.path("optimizer_steps").asLong(),
        s.path("examples_trained").asLong(), s.path("tokens_trained").asLong(),
        s.path("skipped_steps").asLong(), s.path("examples_in_skipped_steps").asLong(),
        s.path("examples_replayed").asLong(), s.path("tokens_replayed").asLong(),
        s.path("seed").asLong(), offsets, trainedThrough, eval);
  }

  private static int[] ints(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asInt();
    }
    return out;
  }
}
