package io.continualsft.trainer.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.CheckpointChunk;
import io.continualsft.avro.CheckpointFile;
import io.continualsft.avro.CheckpointManifest;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.LoraConfig;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/** Files to records and back, and every way a manifest can lie about its chunks. */
class CheckpointCodecTest {
  static final Map<String, byte[]> FILES = files();

  static Map<String, byte[]> files() {
    Map<String, byte[]> files = new LinkedHashMap<>();
    files.put("adapter_config.json", "{\"r\": 8}".getBytes(StandardCharsets.UTF_8));
    byte[] weights = new byte[10_000];
    for (int i = 0; i < weights.length; i++) {
      weights[i] = (byte) (i * 31);
    }
    files.put("adapter_model.safetensors", weights);
    files.put("trainer_state.json", new byte[0]);
    return files;
  }

  static CheckpointManifest.Builder manifest() {
    return CheckpointManifest.newBuilder()
        .setStep(12).setExamplesTrained(34).setTokensTrained(560)
        .setSourceOffsets(List.of())
        .setBaseModel("tiny").setBaseModelFingerprint("b".repeat(64))
        .setTokenizerFingerprint("t".repeat(64))
        .setLora(LoraConfig.newBuilder().setR(8).setAlpha(16).setDropout(0)
            .setTargetModules(List.of("q_proj")).setUseRslora(false).build())
        .setMetrics(Map.of())
        .setCreatedAt(Instant.ofEpochMilli(1_795_000_000_000L));
  }

  static List<CheckpointRecord> encode() {
    return CheckpointCodec.encode("a", 3, FILES, manifest(), 4096);
  }

  static CheckpointManifest manifestOf(List<CheckpointRecord> records) {
    return (CheckpointManifest) records.getLast().getPayload();
  }

  static List<CheckpointChunk> chunksOf(List<CheckpointRecord> records) {
    return records.stream().filter(r -> r.getPayload() instanceof CheckpointChunk)
        .map(r -> (CheckpointChunk) r.getPayload()).toList();
  }

  @Test
  void filesAreCutIntoChunksOfAtMostTheLimitAndTheManifestComesLast() {
    List<CheckpointRecord> records = encode();
    // 1 chunk for the config, ceil(10000 / 4096) = 3 for the weights, 1 (empty) for the empty trainer_state.json.
    assertThat(records).hasSize(6);
    assertThat(records).allMatch(r -> r.getAdapter().equals("a") && r.getVersion() == 3);
    assertThat(chunksOf(records)).extracting(c -> c.getFile() + "#" + c.getIndex() + "@"
        + c.getOffset() + "+" + c.getData().remaining())
        .containsExactly("adapter_config.json#0@0+8", "adapter_model.safetensors#0@0+4096",
            "adapter_model.safetensors#1@4096+4096", "adapter_model.safetensors#2@8192+1808",
            "trainer_state.json#0@0+0");
    CheckpointManifest m = manifestOf(records);
    assertThat(m.getStep()).isEqualTo(12);
    assertThat(m.getFiles()).extracting(CheckpointFile::getName, CheckpointFile::getSize,
            CheckpointFile::getChunks)
        .containsExactly(org.assertj.core.groups.Tuple.tuple("adapter_config.json", 8L, 1),
            org.assertj.core.groups.Tuple.tuple("adapter_model.safetensors", 10_000L, 3),
            org.assertj.core.groups.Tuple.tuple("trainer_state.json", 0L, 1));
    assertThat(m.getFiles().get(1).getSha256())
        .isEqualTo(CheckpointCodec.sha256(FILES.get("adapter_model.safetensors")));
  }

  @Test
  void chunksInAnyOrderAssembleToTheSameBytes() {
    List<CheckpointRecord> records = encode();
    List<CheckpointChunk> chunks = new ArrayList<>(chunksOf(records));
    Collections.reverse(chunks);
    Map<String, byte[]> files = CheckpointCodec.assemble(manifestOf(records), chunks).orElseThrow();
    assertThat(files.keySet()).containsExactlyElementsOf(FILES.keySet());
    FILES.forEach((name, bytes) -> assertThat(files.get(name)).isEqualTo(bytes));
  }

  @Test
  void aMissingChunkMakesTheCheckpointIncomplete() {
    List<CheckpointRecord> records = encode();
    List<CheckpointChunk> chunks = new ArrayList<>(chunksOf(records));
    chunks.remove(2);
    assertThat(CheckpointCodec.assemble(manifestOf(records), chunks)).isEmpty();
  }

  @Test
  void aChunkWhoseBytesDoNotMatchTheChecksumIsRefused() {
    List<CheckpointRecord> records = encode();
    List<CheckpointChunk> chunks = new ArrayList<>(chunksOf(records));
    CheckpointChunk c = chunks.get(1);
    byte[] flipped = new byte[c.getData().remaining()];
    c.getData().duplicate().get(flipped);
    flipped[17] ^= 1;
    chunks.set(1, CheckpointChunk.newBuilder(c).setData(ByteBuffer.wrap(flipped)).build());
    assertThat(CheckpointCodec.assemble(manifestOf(records), chunks)).isEmpty();
  }

  @Test
  void malformedManifestsAreIncompleteCheckpointsNotCrashes() {
    List<CheckpointRecord> records = encode();
    List<CheckpointChunk> chunks = chunksOf(records);
    CheckpointManifest good = manifestOf(records);
    List<UnaryOperator<CheckpointFile>> lies = List.of(
        f -> new CheckpointFile(f.getName(), 1L << 40, f.getSha256(), f.getChunks()), // 1 TiB
        f -> new CheckpointFile(f.getName(), -1L, f.getSha256(), f.getChunks()),
        f -> new CheckpointFile(f.getName(), f.getSize() + 1, f.getSha256(), f.getChunks()),
        f -> new CheckpointFile(f.getName(), f.getSize(), f.getSha256(), Integer.MAX_VALUE),
        f -> new CheckpointFile(f.getName(), f.getSize(), f.getSha256(), 0),
        f -> new CheckpointFile(f.getName(), f.getSize(), f.getSha256(), -3),
        f -> new CheckpointFile(f.getName(), f.getSize(), f.getSha256(), f.getChunks() - 1),
        f -> new CheckpointFile(f.getName(), f.getSize(), "0".repeat(64), f.getChunks()),
        f -> new CheckpointFile("not-sent.bin", f.getSize(), f.getSha256(), f.getChunks()));
    for (UnaryOperator<CheckpointFile> lie : lies) {
      List<CheckpointFile> files = new ArrayList<>(good.getFiles());
      files.set(1, lie.apply(files.get(1))); // the three-chunk weights file
      CheckpointManifest bad = CheckpointManifest.newBuilder(good).setFiles(files).build();
      assertThat(CheckpointCodec.assemble(bad, chunks)).as(files.get(1).toString()).isEmpty();
    }
    // The same file listed twice.
    List<CheckpointFile> twice = new ArrayList<>(good.getFiles());
    twice.add(twice.get(0));
    assertThat(CheckpointCodec.assemble(
        CheckpointManifest.newBuilder(good).setFiles(twice).build(), chunks)).isEmpty();
  }

  @Test
  void chunksThatLieAboutTheirPlaceAreRefused() {
    List<CheckpointRecord> records = encode();
    CheckpointManifest m = manifestOf(records);
    List<UnaryOperator<CheckpointChunk>> lies = List.of(
        c -> CheckpointChunk.newBuilder(c).setIndex(-1).build(),
        c -> CheckpointChunk.newBuilder(c).setIndex(7).build(),
        c -> CheckpointChunk.newBuilder(c).setOffset(-4096).build(),
        c -> CheckpointChunk.newBuilder(c).setOffset(Long.MAX_VALUE).build(),
        c -> CheckpointChunk.newBuilder(c).setOffset(c.getOffset() + 1).build());
    for (UnaryOperator<CheckpointChunk> lie : lies) {
      List<CheckpointChunk> chunks = new ArrayList<>(chunksOf(records));
      chunks.set(2, lie.apply(chunks.get(2))); // the weights' second chunk
      assertThat(CheckpointCodec.assemble(m, chunks)).as(chunks.get(2).toString()).isEmpty();
    }
  }

  @Test
  void aManifestWithoutFilesAssemblesToNoFiles() {
    CheckpointManifest empty = manifest().setFiles(List.of()).build();
    assertThat(CheckpointCodec.assemble(empty, List.of())).isEqualTo(Optional.of(Map.of()));
  }

  @Test
  void aFileNameOutsideTheAllowListIsNeverAssembled() {
    for (String name : List.of("../../x", "/etc/passwd", "adapter_model.safetensors/..", ".bashrc",
        "adapter_config.json\u0000", "")) {
      Map<String, byte[]> files = new LinkedHashMap<>();
      files.put(name, new byte[] {1, 2, 3});
      List<CheckpointRecord> records = CheckpointCodec.encode("a", 1, files, manifest(), 4096);
      assertThat(CheckpointCodec.assemble(manifestOf(records), chunksOf(records)))
          .as(name).isEmpty();
    }
  }

  @Test
  void aManifestListingMoreFilesThanACheckpointHasIsRefused() {
    List<CheckpointRecord> records = encode();
    CheckpointManifest m = manifestOf(records);
    List<CheckpointFile> many = new ArrayList<>(m.getFiles());
    for (int i = 0; i < 1000; i++) {
      many.add(m.getFiles().get(0));
    }
    assertThat(CheckpointCodec.assemble(CheckpointManifest.newBuilder(m).setFiles(many).build(),
        chunksOf(records))).isEmpty();
  }
}
