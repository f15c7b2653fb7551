package io.continualsft.trainer.checkpoint;

import io.continualsft.avro.CheckpointManifest;
import java.util.Arrays;
import java.util.Map;
import java.util.Objects;

/**
 * A complete checkpoint: its manifest and every file it lists, checksums verified. Its files'
 * content is parsed once, when first asked for ({@link #content()}), however many readers check
 * it on the way from the topic to a restore.
 */
public final class Checkpoint {
  public static final String ADAPTER_CONFIG = "adapter_config.json";
  public static final String ADAPTER_WEIGHTS = "adapter_model.safetensors";
  public static final String OPTIMIZER = "optimizer.safetensors";
  public static final String TRAINER_STATE = "trainer_state.json";

  private final String adapter;
  private final long version;
  private final CheckpointManifest manifest;
  private final Map<String, byte[]> files;
  private CheckpointFiles.Content content;
  private InvalidCheckpointException invalid;

  public Checkpoint(String adapter, long version, CheckpointManifest manifest,
      Map<String, byte[]> files) {
    this.adapter = adapter;
    this.version = version;
    this.manifest = manifest;
    this.files = files;
  }

  public String adapter() {
    return adapter;
  }

  public long version() {
    return version;
  }

  public CheckpointManifest manifest() {
    return manifest;
  }

  public Map<String, byte[]> files() {
    return files;
  }

  /**
   * The files' content, parsed on the first call and kept; an {@link InvalidCheckpointException}
   * naming the malformed file, on every call, when they do not parse. Whether it suits a model is
   * {@link CheckpointFiles#decode}'s question.
   */
  public synchronized CheckpointFiles.Content content() {
    if (content == null && invalid == null) {
      try {
        content = CheckpointFiles.parse(this);
      } catch (InvalidCheckpointException e) {
        invalid = e;
      }
    }
    if (invalid != null) {
      throw invalid;
    }
    return content;
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof Checkpoint c) || c.version != version || !c.adapter.equals(adapter)
        || !c.manifest.equals(manifest) || !c.files.keySet().equals(files.keySet())) {
      return false;
    }
    return files.entrySet().stream().allMatch(e -> Arrays.equals(e.getValue(),
        c.files.get(e.getKey())));
  }

  @Override
  public int hashCode() {
    return Objects.hash(adapter, version, manifest);
  }

  @Override
  public String toString() {
    return "Checkpoint[adapter=" + adapter + ", version=" + version + ", files="
        + files.keySet() + "]";
  }
}
