package io.continualsft.trainer.checkpoint;

import io.continualsft.avro.CheckpointChunk;
import io.continualsft.avro.CheckpointFile;
import io.continualsft.avro.CheckpointManifest;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.schemas.Fingerprints;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A checkpoint as Kafka records, and back: each file cut into chunks of at most {@code chunkBytes},
 * then the manifest listing every file's size, sha256 and chunk count. Written in one transaction,
 * so a read_committed consumer sees all of them or none.
 */
public final class CheckpointCodec {
  private CheckpointCodec() {}

  /** Chunks of every file, then the manifest (with the files' entries filled in). */
  public static List<CheckpointRecord> encode(String adapter, long version,
      Map<String, byte[]> files, CheckpointManifest.Builder manifest, int chunkBytes) {
    List<CheckpointRecord> records = new ArrayList<>();
    List<CheckpointFile> entries = new ArrayList<>();
    for (Map.Entry<String, byte[]> f : files.entrySet()) {
      byte[] bytes = f.getValue();
      int chunks = Math.max(1, (bytes.length + chunkBytes - 1) / chunkBytes);
      for (int i = 0; i < chunks; i++) {
        int from = i * chunkBytes;
        int to = Math.min(bytes.length, from + chunkBytes);
        records.add(CheckpointRecord.newBuilder().setAdapter(adapter).setVersion(version)
            .setPayload(CheckpointChunk.newBuilder().setFile(f.getKey()).setIndex(i)
                .setOffset(from).setData(ByteBuffer.wrap(bytes, from, to - from).slice()).build())
            .build());
      }
      entries.add(new CheckpointFile(f.getKey(), (long) bytes.length, sha256(bytes), chunks));
    }
    records.add(CheckpointRecord.newBuilder().setAdapter(adapter).setVersion(version)
        .setPayload(manifest.setFiles(entries).build()).build());
    return records;
  }

  /**
   * Assembles the checkpoint that {@code manifest} closes from {@code chunks} (this version's
   * chunks, any order). Empty when a chunk is missing or a checksum or size disagrees: such a
   * checkpoint is partial or corrupt and must not be used.
   */
  public static Optional<Map<String, byte[]>> assemble(CheckpointManifest manifest,
      List<CheckpointChunk> chunks) {
    Map<String, byte[]> files = new LinkedHashMap<>();
    for (CheckpointFile f : manifest.getFiles()) {
      byte[] bytes = new byte[Math.toIntExact(f.getSize())];
      boolean[] seen = new boolean[f.getChunks()];
      for (CheckpointChunk c : chunks) {
        if (!c.getFile().equals(f.getName()) || c.getIndex() >= f.getChunks()) {
          continue;
        }
        ByteBuffer data = c.getData().duplicate();
        if (c.getOffset() + data.remaining() > bytes.length) {
          return Optional.empty();
        }
        data.get(bytes, (int) c.getOffset(), data.remaining());
        seen[c.getIndex()] = true;
      }
      for (boolean s : seen) {
        if (!s) {
          return Optional.empty();
        }
      }
      if (!sha256(bytes).equals(f.getSha256())) {
        return Optional.empty();
      }
      files.put(f.getName(), bytes);
    }
    return Optional.of(files);
  }

  public static String sha256(byte[] bytes) {
    return Fingerprints.sha256(bytes);
  }
}
