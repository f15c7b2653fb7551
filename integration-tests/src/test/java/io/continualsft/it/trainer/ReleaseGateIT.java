package io.continualsft.it.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.SftExample;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.it.support.TestDirs;
import io.continualsft.schemas.Messages;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointCodec;
import io.continualsft.trainer.cli.TrainerCli;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.release.ReleaseGate;
import io.continualsft.trainer.service.Published;
import io.continualsft.trainer.service.TrainerService;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * The evaluation gate on the real broker: a house-style task is trained and released; a burst of
 * conversations whose replies are garbage is trained too, but its candidates are refused (their
 * retention loss rises) and the release stays; clean data resumes and a later candidate is
 * released. `releases` prints the history, and `pull` delivers the released version, not the
 * newest candidate.
 */
@RealServices
class ReleaseGateIT {
  static final int CLEAN = 200;
  static final int BURST = 40;
  static final int RESUMED = 200;

  @Test
  void aPoisonedBurstIsRefusedAndCleanDataIsReleasedAgain(KafkaCluster kafka,
      SchemaRegistry registry) throws Exception {
    Path work = Files.createDirectories(TestDirs.fresh("gate"));
    Path model = TrainerFixtures.tinyModel(Files.createDirectories(work.resolve("model")));
    TrainerServiceIT.Topics t = TrainerServiceIT.Topics.create(kafka);
    List<SftExample> clean = TrainerFixtures.examples(model,
        TrainerFixtures.conversations(CLEAN, "clean"), t.examples());
    List<SftExample> burst = TrainerFixtures.examples(model, garbage(BURST), t.examples());
    List<SftExample> resumed = TrainerFixtures.examples(model,
        TrainerFixtures.conversations(RESUMED, "resumed"), t.examples());
    // The retention set: the house style, in conversations the stream never carries.
    Path retention = work.resolve("retention.jsonl");
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      lines.add("{\"id\": \"keep-" + i + "\", \"messages\": [{\"role\": \"user\", \"content\":"
          + " \"Please remember item " + (1000 + i) + ".\"}, {\"role\": \"assistant\","
          + " \"content\": \"OK, noted.\"}]}");
    }
    Files.write(retention, lines, StandardCharsets.UTF_8);

    TrainerSettings settings = TrainerFixtures.settings(kafka, registry.url(), model,
        t.examples(), t.dlq(), t.checkpoints(), "default", "gate-" + t.examples())
        .set(TrainerConfig.RETENTION_FILE, Optional.of(retention)).set(TrainerConfig.GATE_MAX_RETENTION_INCREASE, 0.1).set(TrainerConfig.GATE_MAX_EVAL_INCREASE, 0.25)
        .set(TrainerConfig.LEARNING_RATE, 0.05).set(TrainerConfig.CHECKPOINT_EVERY_STEPS, 3).build();
    List<Published> published = new CopyOnWriteArrayList<>();
    try (SchemaRegistryClient client = registry.client(true);
        TrainerService service = TrainerService.create(settings)) {
      service.onPublished(published::add);
      AtomicBoolean stop = new AtomicBoolean();
      CompletableFuture<Void> running = CompletableFuture.runAsync(() -> service.run(stop::get));
      try {
        long end = 0;
        for (List<SftExample> phase : List.of(clean, burst, resumed)) {
          TrainerFixtures.produce(kafka, client, t.examples(), phase);
          end += phase.size();
          awaitCheckpointThrough(published, end, running);
        }
      } finally {
        stop.set(true);
        running.get();
      }
    }
    for (Published p : published) {
      System.out.printf("v%d through %d: %s %s (retention %.4f, eval %.4f): %s%n", p.version(),
          p.offsets().values().iterator().next(), p.released() ? "RELEASED" : "refused",
          p.reason(), p.retentionLoss(), p.evalLoss(), p.gate());
    }
    Published afterClean = at(published, CLEAN);
    long releasedBeforeBurst = lastReleasedThrough(published, CLEAN);
    assertThat(releasedBeforeBurst).as("the house style was released").isPositive();
    // Every candidate trained on a quarter of the burst or more is refused for forgetting.
    List<Published> poisoned = published.stream()
        .filter(p -> through(p) >= CLEAN + BURST / 4 && through(p) <= CLEAN + BURST).toList();
    assertThat(poisoned).isNotEmpty().allSatisfy(p -> {
      assertThat(p.released()).as("v%d", p.version()).isFalse();
      assertThat(p.reason()).isEqualTo(ReleaseGate.Reason.RETENTION_REGRESSED);
    });
    long releasedAfterBurst = lastReleasedThrough(published, CLEAN + BURST);
    assertThat(releasedAfterBurst).as("no burst-trained candidate is served")
        .isLessThanOrEqualTo(published.stream().filter(p -> through(p) < CLEAN + BURST / 4)
            .mapToLong(Published::version).max().orElseThrow());
    // Clean data resumes: a later candidate passes and is released.
    Published recovered = published.stream()
        .filter(p -> through(p) > CLEAN + BURST && p.released()).findFirst().orElseThrow();
    assertThat(recovered.reason()).isEqualTo(ReleaseGate.Reason.PASSED);
    assertThat(afterClean.retentionLoss()).isFinite();

    // releases: the history, newest first.
    String history = run("releases", "--bootstrap", kafka.bootstrapServers(), "--registry",
        registry.url(), "--releases-topic", TrainerFixtures.releasesTopic(t.checkpoints()));
    long current = lastReleasedThrough(published, Long.MAX_VALUE);
    assertThat(history.lines().skip(1).findFirst().orElseThrow())
        .startsWith("v" + current + " ").contains("GATE_PASSED");
    assertThat(history).contains("v" + recovered.version() + " ")
        .contains("v" + releasedBeforeBurst + " ");

    // pull delivers the release, not the newest candidate.
    Path out = work.resolve("pulled");
    assertThat(TrainerCli.commandLine().execute("pull", "--bootstrap", kafka.bootstrapServers(),
        "--registry", registry.url(), "--topic", t.checkpoints(), "--releases-topic",
        TrainerFixtures.releasesTopic(t.checkpoints()), "--out", out.toString())).isZero();
    try (SchemaRegistryClient client = registry.client(false);
        var reader = io.continualsft.trainer.checkpoint.CheckpointReader.open(
            kafka.bootstrapServers(), io.continualsft.schemas.registry.SchemaRegistryConfig
                .forUrl(registry.url(), false), t.checkpoints(), java.util.Map.of())) {
      Checkpoint released = reader.version("default", current).orElseThrow();
      assertThat(CheckpointCodec.sha256(Files.readAllBytes(out.resolve(
          Checkpoint.ADAPTER_WEIGHTS))))
          .isEqualTo(CheckpointCodec.sha256(released.files().get(Checkpoint.ADAPTER_WEIGHTS)));
    }
  }

  /** Replies of random characters: Latin, digits, punctuation and CJK, 30 to 60 of them. */
  static List<Conversation> garbage(int count) {
    SplittableRandom random = new SplittableRandom(404);
    String alphabet = "abcdefghijklmnopqrstuvwxyzQWXZ0123456789#%&*+=?!;:~^"
        + "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年";
    List<Conversation> out = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      StringBuilder reply = new StringBuilder();
      int length = 30 + random.nextInt(31);
      for (int c = 0; c < length; c++) {
        reply.append(alphabet.charAt(random.nextInt(alphabet.length())));
      }
      out.add(Conversation.newBuilder().setId("garbage-" + i)
          .setMessages(List.of(Messages.of("user", "Please note item " + i + ".", null),
              Messages.of("assistant", reply.toString(), null)))
          .setCreatedAt(Instant.ofEpochMilli(1_795_000_000_000L + i)).build());
    }
    return out;
  }

  static long through(Published p) {
    return p.offsets().values().iterator().next();
  }

  static Published at(List<Published> published, long offset) {
    return published.stream().filter(p -> through(p) == offset).findFirst().orElseThrow();
  }

  /** The version released last among checkpoints cut through at most {@code offset}. */
  static long lastReleasedThrough(List<Published> published, long offset) {
    return published.stream().filter(p -> through(p) <= offset && p.released())
        .mapToLong(Published::version).max().orElse(0);
  }

  static void awaitCheckpointThrough(List<Published> published, long offset,
      CompletableFuture<Void> running) throws Exception {
    Instant deadline = Instant.now().plusSeconds(180);
    while (published.stream().noneMatch(p -> through(p) == offset)) {
      if (running.isDone()) {
        running.get(); // the trainer's failure, as it is
        throw new AssertionError("the trainer stopped");
      }
      assertThat(Instant.now()).as("a checkpoint through offset " + offset).isBefore(deadline);
      Thread.sleep(200);
    }
  }

  static String run(String... args) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream before = System.out;
    System.setOut(new PrintStream(bytes, true, StandardCharsets.UTF_8));
    try {
      assertThat(TrainerCli.commandLine().execute(args)).isZero();
    } finally {
      System.setOut(before);
    }
    String out = bytes.toString(StandardCharsets.UTF_8);
    System.out.print(out);
    return out;
  }
}
