package io.continualsft.trainer.checkpoint;

import io.continualsft.avro.CheckpointManifest;
import java.util.Map;

/** A complete checkpoint: its manifest and every file it lists, checksums verified. */
public record Checkpoint(String adapter, long version, CheckpointManifest manifest,
    Map<String, byte[]> files) {
  public static final String ADAPTER_CONFIG = "adapter_config.json";
  public static final String ADAPTER_WEIGHTS = "adapter_model.safetensors";
  public static final String OPTIMIZER = "optimizer.safetensors";
  public static final String TRAINER_STATE = "trainer_state.json";
}
