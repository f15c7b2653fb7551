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
  /** The largest file a checkpoint may hold: what one Java array can. */
  static final long MAX_FILE_BYTES = Integer.MAX_VALUE - 8;

  /**
   * The only file names a checkpoint may hold. Names come from a topic others can write to; an
   * allow-list (rather than a check for {@code ..} and separators) means no name can ever be a
   * path, a device or a hidden file wherever a reader writes it.
   */
  public static final java.util.Set<String> FILE_NAMES = java.util.Set.of(
      Checkpoint.ADAPTER_CONFIG, Checkpoint.ADAPTER_WEIGHTS, Checkpoint.OPTIMIZER,
      Checkpoint.TRAINER_STATE);

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
   * checkpoint is partial or corrupt and must not be used. Nothing the manifest claims is
   * trusted before the chunks bear it out: a file's bytes are allocated only once its chunks
   * are all there, contiguous, and add up to its size.
   */
  public static Optional<Map<String, byte[]>> assemble(CheckpointManifest manifest,
      List<CheckpointChunk> chunks) {
    Map<String, byte[]> files = new LinkedHashMap<>();
    if (manifest.getFiles().size() > FILE_NAMES.size()) {
      return Optional.empty();
    }
    for (CheckpointFile f : manifest.getFiles()) {
      if (!FILE_NAMES.contains(f.getName())) {
        return Optional.empty();
      }
      Optional<byte[]> bytes = assembleFile(f, chunks);
      if (bytes.isEmpty() || files.containsKey(f.getName())) {
        return Optional.empty();
      }
      files.put(f.getName(), bytes.get());
    }
    return Optional.of(files);
  }

  private static Optional<byte[]> assembleFile(CheckpointFile f, List<CheckpointChunk> chunks) {
    // A file has at least one chunk, and no more than the records that arrived.
    if (f.getChunks() < 1 || f.getChunks() > chunks.size() || f.getSize() < 0
        || f.getSize() > MAX_FILE_BYTES) {
      return Optional.empty();
    }
    CheckpointChunk[] byIndex = new CheckpointChunk[f.getChunks()];
    for (CheckpointChunk c : chunks) {
      if (!c.getFile().equals(f.getName())) {
        continue;
      }
      if (c.getIndex() < 0 || c.getIndex() >= byIndex.length) {
        return Optional.empty();
      }
      byIndex[c.getIndex()] = c; // a repeat of an index: the last one read, checked by sha256
    }
    long expected = 0;
    for (CheckpointChunk c : byIndex) {
      if (c == null || c.getOffset() != expected) {
        return Optional.empty();
      }
      expected += c.getData().remaining();
      if (expected > f.getSize()) {
        return Optional.empty();
      }
    }
    if (expected != f.getSize()) {
      return Optional.empty();
    }
    byte[] bytes = new byte[(int) expected];
    for (CheckpointChunk c : byIndex) {
      c.getData().duplicate().get(bytes, (int) c.getOffset(), c.getData().remaining());
    }
    return sha256(bytes).equals(f.getSha256()) ? Optional.of(bytes) : Optional.empty();
  }

  public static String sha256(byte[] bytes) {
    return Fingerprints.sha256(bytes);
  }
}
