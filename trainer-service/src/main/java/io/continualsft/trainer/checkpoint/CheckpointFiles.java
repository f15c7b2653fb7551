package io.continualsft.trainer.checkpoint;

import io.continualsft.avro.CheckpointManifest;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.LoraConfig;
import io.continualsft.avro.PartitionOffset;
import io.continualsft.trainer.lora.AdapterState;
import io.continualsft.trainer.lora.LoraSettings;
import io.continualsft.trainer.lora.PeftAdapter;
import io.continualsft.trainer.model.ModelIdentity;
import io.continualsft.trainer.safetensors.Safetensors;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.TopicPartition;

/**
 * A checkpoint's content as its four files, in memory both ways: the PEFT adapter
 * ({@code adapter_config.json}, {@code adapter_model.safetensors}), the optimizer moments
 * ({@code optimizer.safetensors}) and {@code trainer_state.json}; and those files as the Kafka
 * records of one version (chunks, then the manifest). Restoring checks that the checkpoint
 * belongs to this base model, tokenizer and LoRA configuration before anything is applied.
 */
public final class CheckpointFiles {
  private CheckpointFiles() {}

  /** What a checkpoint holds, before it becomes files and after it is read back. */
  public record Content(PeftAdapter adapter, Map<String, float[]> moments, TrainingState state) {
    /** The adapter's weights, moments and counters, to put into a model. */
    public AdapterState adapterState() {
      return new AdapterState(adapter.settings(), adapter.weights(), moments, state.step(),
          state.optimizerSteps());
    }
  }

  /** The four files, in the order they are written. */
  static Map<String, byte[]> encode(Content content) {
    Map<String, byte[]> files = new LinkedHashMap<>();
    files.put(Checkpoint.ADAPTER_CONFIG, content.adapter().configBytes());
    files.put(Checkpoint.ADAPTER_WEIGHTS, content.adapter().weightsBytes());
    List<Safetensors.Tensor> moments = new ArrayList<>();
    content.moments().forEach((name, values) ->
        moments.add(new Safetensors.Tensor(name, new long[] {values.length}, values)));
    files.put(Checkpoint.OPTIMIZER, Safetensors.toBytes(moments, Map.of("format", "pt")));
    files.put(Checkpoint.TRAINER_STATE, content.state().toJson());
    return files;
  }

  /**
   * What the manifest records besides the files: the training totals, the offsets trained
   * through (everything before them is accounted for), the base model and the LoRA settings.
   */
  public record ManifestFacts(long step, long examplesTrained, long tokensTrained,
      Map<TopicPartition, Long> offsets, ModelIdentity identity, LoraSettings lora,
      Map<String, Double> metrics, Instant createdAt) {}

  /**
   * What the manifest records of a version's lineage: the version it continued from (null:
   * none), the conversations trained since, how many erasure requests it accounts for, and the
   * versions it revokes with why (empty and null but for the version an erasure rewound to).
   */
  public record ManifestLineage(Long parentVersion,
      List<io.continualsft.avro.LineageEntry> lineage, long erasuresThrough, List<Long> revokes,
      String revokeReason) {
    public static final ManifestLineage NONE = new ManifestLineage(null, List.of(), 0, List.of(),
        null);
  }

  /** A version's records, and the bytes of the files they carry. */
  public record Encoded(List<CheckpointRecord> records, long bytes) {}

  /**
   * The records of one version of {@code adapter}: {@code content}'s files in chunks of at most
   * {@code chunkBytes}, then the manifest.
   */
  public static Encoded records(String adapter, long version, Content content,
      ManifestFacts facts, int chunkBytes) {
    return records(adapter, version, content, facts, ManifestLineage.NONE, chunkBytes);
  }

  /** As above, with the version's lineage. */
  public static Encoded records(String adapter, long version, Content content,
      ManifestFacts facts, ManifestLineage lineage, int chunkBytes) {
    Map<String, byte[]> files = encode(content);
    LoraSettings lora = facts.lora();
    CheckpointManifest.Builder manifest = CheckpointManifest.newBuilder()
        .setStep(facts.step())
        .setExamplesTrained(facts.examplesTrained())
        .setTokensTrained(facts.tokensTrained())
        .setSourceOffsets(facts.offsets().entrySet().stream()
            .map(e -> new PartitionOffset(e.getKey().topic(), e.getKey().partition(), e.getValue()))
            .toList())
        .setBaseModel(facts.identity().baseModelName())
        .setBaseModelFingerprint(facts.identity().baseFingerprint())
        .setTokenizerFingerprint(facts.identity().tokenizerFingerprint())
        .setLora(LoraConfig.newBuilder().setR(lora.r()).setAlpha(lora.alpha())
            .setDropout(lora.dropout()).setTargetModules(lora.targetModules())
            .setUseRslora(lora.useRslora()).build())
        .setMetrics(facts.metrics())
        .setCreatedAt(facts.createdAt())
        .setParentVersion(lineage.parentVersion())
        .setLineage(lineage.lineage())
        .setErasuresThrough(lineage.erasuresThrough())
        .setRevokes(lineage.revokes())
        .setRevokeReason(lineage.revokeReason());
    return new Encoded(CheckpointCodec.encode(adapter, version, files, manifest, chunkBytes),
        files.values().stream().mapToLong(b -> b.length).sum());
  }

  /** Reads the content of {@code checkpoint} back, refusing one of another model or LoRA. */
  public static Content decode(Checkpoint checkpoint, ModelIdentity identity,
      LoraSettings configured) {
    String where = "checkpoint v" + checkpoint.version() + " of adapter " + checkpoint.adapter();
    CheckpointManifest m = checkpoint.manifest();
    if (!m.getTokenizerFingerprint().equals(identity.tokenizerFingerprint())
        || !m.getBaseModelFingerprint().equals(identity.baseFingerprint())) {
      throw new IllegalStateException(where + " was trained on another base model or tokenizer;"
          + " refusing to resume from it");
    }
    Content content = checkpoint.content();
    if (!content.adapter().settings().equals(configured)) {
      throw new IllegalStateException(where + " has LoRA " + content.adapter().settings()
          + " but this trainer is configured with " + configured);
    }
    return content;
  }

  /**
   * The files' content, or an {@link InvalidCheckpointException} saying which file is malformed.
   * Every parser here bounds what it reads by the bytes it was given. Called once per checkpoint,
   * by {@link Checkpoint#content()}.
   */
  static Content parse(Checkpoint checkpoint) {
    String where = "checkpoint v" + checkpoint.version() + " of adapter " + checkpoint.adapter();
    Map<String, byte[]> files = checkpoint.files();
    for (String name : List.of(Checkpoint.ADAPTER_CONFIG, Checkpoint.ADAPTER_WEIGHTS,
        Checkpoint.OPTIMIZER, Checkpoint.TRAINER_STATE)) {
      if (!files.containsKey(name)) {
        throw new InvalidCheckpointException(where + " lacks " + name, null);
      }
    }
    try {
      return parseFiles(files, where);
    } catch (InvalidCheckpointException e) {
      throw e;
    } catch (RuntimeException e) {
      throw new InvalidCheckpointException(where + " is malformed: " + e.getMessage(), e);
    }
  }

  private static Content parseFiles(Map<String, byte[]> files, String where) {
    PeftAdapter adapter = PeftAdapter.fromBytes(files.get(Checkpoint.ADAPTER_CONFIG),
        files.get(Checkpoint.ADAPTER_WEIGHTS), where);
    Map<String, float[]> moments = new LinkedHashMap<>();
    try (Safetensors.Reader r = Safetensors.read(where + " " + Checkpoint.OPTIMIZER,
        files.get(Checkpoint.OPTIMIZER))) {
      for (String name : r.tensors().keySet()) {
        moments.put(name, r.readFloats(name));
      }
    }
    TrainingState state = TrainingState.fromJson(files.get(Checkpoint.TRAINER_STATE), where);
    return new Content(adapter, moments, state);
  }

  /**
   * Whether {@code checkpoint}'s content parses, for readers that skip what does not; a refusal is
   * logged with its reason.
   */
  public static boolean parses(Checkpoint checkpoint) {
    try {
      checkpoint.content();
      return true;
    } catch (InvalidCheckpointException e) {
      org.slf4j.LoggerFactory.getLogger(CheckpointFiles.class).warn("skipping {}", e.getMessage());
      return false;
    }
  }
}
