package io.continualsft.it.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.SftExample;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.it.support.TestDirs;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.cli.TrainerCli;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.lora.PeftAdapter;
import io.continualsft.trainer.service.ExampleAdmission;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * `trainer-service train` on the real broker: the same conversations trained from a file and by
 * the service from the topic give the same adapter, bit for bit; `--publish` makes version 1 of
 * a new adapter, which the service resumes from and trains on.
 */
@RealServices
class TrainFromFileIT {
  /** The CLI options that match {@link TrainerFixtures#settings}. */
  static List<String> fixtureOptions(Path model, Path input, Path out) {
    return List.of("train", "--model", model.toString(), "--input", input.toString(),
        "--output", out.toString(), "--model-name", "tiny-qwen3", "--lora-r", "8",
        "--lora-alpha", "16", "--lora-dropout", "0.1", "--target-modules", "all-linear",
        "--seed", "11", "--max-length", "256", "--token-budget", "512", "--step-tokens", "60",
        "--lr", "0.01", "--warmup-steps", "2", "--precision", "fp32",
        "--eval-fraction", String.valueOf(TrainerFixtures.EVAL_FRACTION));
  }

  static Path jsonl(Path file, List<Conversation> conversations) throws Exception {
    List<String> lines = new ArrayList<>();
    for (Conversation c : conversations) {
      StringBuilder line = new StringBuilder("{\"id\": \"" + c.getId() + "\", \"messages\": [");
      for (int i = 0; i < c.getMessages().size(); i++) {
        var m = c.getMessages().get(i);
        line.append(i == 0 ? "" : ", ").append("{\"role\": \"").append(m.getRole())
            .append("\", \"content\": ").append(new com.fasterxml.jackson.databind.ObjectMapper()
                .writeValueAsString(m.getContent())).append("}");
      }
      lines.add(line.append("]}").toString());
    }
    return Files.write(file, lines);
  }

  @Test
  void aFileAndTheTopicGiveTheSameAdapterAndAPublishedStartIsResumedFrom(KafkaCluster kafka,
      SchemaRegistry registry) throws Exception {
    Path work = Files.createDirectories(TestDirs.fresh("train-file"));
    Path model = TrainerFixtures.tinyModel(Files.createDirectories(work.resolve("model")));
    List<Conversation> conversations = TrainerFixtures.conversations(60, "file");
    Path input = jsonl(work.resolve("train.jsonl"), conversations);

    // From the topic, by the service.
    TrainerServiceIT.Topics t = TrainerServiceIT.Topics.create(kafka);
    List<SftExample> examples = TrainerFixtures.examples(model, conversations, t.examples());
    Checkpoint fromTopic;
    try (SchemaRegistryClient client = registry.client(true)) {
      TrainerFixtures.produce(kafka, client, t.examples(), examples);
      TrainerSettings settings = TrainerFixtures.settings(kafka, registry.url(), model,
          t.examples(), t.dlq(), t.checkpoints(), "default", "file-" + t.examples()).build();
      TrainerServiceIT.runUntil(settings, kafka, client, t.checkpoints(), "default",
          c -> c.manifest().getSourceOffsets().get(0).getOffset() == examples.size()).close();
      fromTopic = TrainerServiceIT.newest(kafka, client, t.checkpoints(), "default")
          .orElseThrow();
    }
    // From the file, by `train`.
    Path out = work.resolve("adapter");
    assertThat(TrainerCli.commandLine().execute(fixtureOptions(model, input, out)
        .toArray(String[]::new))).isZero();
    assertThat(Files.readAllBytes(out.resolve(PeftAdapter.WEIGHTS_FILE)))
        .as("adapter_model.safetensors, bit for bit")
        .isEqualTo(fromTopic.files().get(Checkpoint.ADAPTER_WEIGHTS));
    assertThat(Files.readAllBytes(out.resolve(PeftAdapter.CONFIG_FILE)))
        .isEqualTo(fromTopic.files().get(PeftAdapter.CONFIG_FILE));

    // --publish: version 1 of a new adapter; its trainer resumes from it.
    TrainerServiceIT.Topics b = TrainerServiceIT.Topics.create(kafka);
    List<String> publish = new ArrayList<>(fixtureOptions(model, input, work.resolve("boot")));
    publish.addAll(List.of("--publish", "--adapter", "boot", "--bootstrap",
        kafka.bootstrapServers(), "--registry", registry.url(), "--topic", b.checkpoints()));
    try (SchemaRegistryClient client = registry.client(true)) {
      client.register(b.checkpoints() + "-value",
          io.continualsft.avro.CheckpointRecord.getClassSchema());
      assertThat(TrainerCli.commandLine().execute(publish.toArray(String[]::new))).isZero();
      Checkpoint v1 = TrainerServiceIT.newest(kafka, client, b.checkpoints(), "boot")
          .orElseThrow();
      assertThat(v1.version()).isEqualTo(1);
      assertThat(v1.manifest().getSourceOffsets()).isEmpty();
      assertThat(v1.files().get(Checkpoint.ADAPTER_WEIGHTS))
          .isEqualTo(fromTopic.files().get(Checkpoint.ADAPTER_WEIGHTS));
      assertThat(TrainerCli.commandLine().execute(publish.toArray(String[]::new)))
          .as("a second start for an adapter with checkpoints is refused").isNotZero();

      List<SftExample> stream = TrainerFixtures.examples(model,
          TrainerFixtures.conversations(20, "stream"), b.examples()).stream()
          .map(e -> SftExample.newBuilder(e).setAdapter("boot").build()).toList();
      TrainerFixtures.produce(kafka, client, b.examples(), stream);
      TrainerSettings settings = TrainerFixtures.settings(kafka, registry.url(), model,
          b.examples(), b.dlq(), b.checkpoints(), "boot", "boot-" + b.examples()).build();
      TrainerServiceIT.runUntil(settings, kafka, client, b.checkpoints(), "boot",
          c -> c.version() > 1 && c.manifest().getSourceOffsets().get(0).getOffset() == 20)
          .close();
      Checkpoint last = TrainerServiceIT.newest(kafka, client, b.checkpoints(), "boot")
          .orElseThrow();
      long trainable = stream.stream().filter(e -> !ExampleAdmission.heldOut(
          e.getConversationId(), TrainerFixtures.EVAL_FRACTION)).count();
      assertThat(last.version()).isGreaterThan(1);
      assertThat(last.manifest().getExamplesTrained())
          .as("the file's examples, then the stream's")
          .isEqualTo(v1.manifest().getExamplesTrained() + trainable);
      assertThat(last.manifest().getStep()).isGreaterThan(v1.manifest().getStep());
      assertThat(last.manifest().getSourceOffsets()).hasSize(1);
      assertThat(Map.of("offset", last.manifest().getSourceOffsets().get(0).getOffset()))
          .containsEntry("offset", 20L);
    }
  }
}
