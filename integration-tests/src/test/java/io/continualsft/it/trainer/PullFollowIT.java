package io.continualsft.it.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.continualsft.avro.SftExample;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.it.support.TestDirs;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.checkpoint.CheckpointCodec;
import io.continualsft.trainer.cli.TrainerCli;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/**
 * pull --follow delivers each release to v&lt;N&gt;/ with a `latest` link and makes vLLM serve it:
 * the new version loaded, then the one it replaced unloaded; a restarted vLLM is loaded again;
 * a rollback with `release --to` is delivered like any release. No vLLM runs here, so a loopback
 * HTTP server implements its three endpoints and records what it is asked.
 */
@RealServices
class PullFollowIT {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** vLLM's runtime LoRA endpoints, over a set of served adapter names. */
  static final class FakeVllm implements AutoCloseable {
    final Set<String> served = new TreeSet<>();
    final List<String> calls = new CopyOnWriteArrayList<>();
    private final HttpServer server;
    private boolean failNext = true; // the first call finds vLLM starting: it must be retried

    FakeVllm() throws IOException {
      server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
      server.createContext("/v1/models", e -> answer(e, () -> {
        List<Map<String, String>> data = new ArrayList<>();
        data.add(Map.of("id", "base"));
        served.forEach(name -> data.add(Map.of("id", name)));
        return JSON.writeValueAsString(Map.of("object", "list", "data", data));
      }));
      server.createContext("/v1/load_lora_adapter", e -> answer(e, () -> {
        String name = JSON.readTree(e.getRequestBody()).path("lora_name").asText();
        calls.add("load " + name);
        served.add(name);
        return "ok";
      }));
      server.createContext("/v1/unload_lora_adapter", e -> answer(e, () -> {
        String name = JSON.readTree(e.getRequestBody()).path("lora_name").asText();
        calls.add("unload " + name);
        if (!served.remove(name)) {
          throw new IllegalStateException("not loaded: " + name);
        }
        return "ok";
      }));
      server.start();
    }

    interface Body {
      String get() throws IOException;
    }

    private synchronized void answer(HttpExchange e, Body body) throws IOException {
      try (e) {
        if (failNext) {
          failNext = false;
          e.sendResponseHeaders(503, -1);
          return;
        }
        byte[] bytes;
        int status = 200;
        try {
          bytes = body.get().getBytes(StandardCharsets.UTF_8);
        } catch (IllegalStateException notLoaded) {
          bytes = notLoaded.getMessage().getBytes(StandardCharsets.UTF_8);
          status = 404;
        }
        e.sendResponseHeaders(status, bytes.length);
        e.getResponseBody().write(bytes);
      }
    }

    synchronized Set<String> served() {
      return new TreeSet<>(served);
    }

    /** A serving restart: every runtime-loaded adapter is gone. */
    synchronized void restart() {
      served.clear();
      calls.add("restart");
    }

    String url() {
      return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @Override
    public void close() {
      server.stop(0);
    }
  }

  @Test
  void followDeliversEachReleaseAndVllmServesOnlyTheReleasedVersion(KafkaCluster kafka,
      SchemaRegistry registry) throws Exception {
    Path model = TrainerFixtures.tinyModel(Files.createDirectories(TestDirs.fresh("follow-model")));
    TrainerServiceIT.Topics t = TrainerServiceIT.Topics.create(kafka);
    List<SftExample> examples = TrainerFixtures.examples(model,
        TrainerFixtures.conversations(40, "follow"), t.examples());
    String releases = TrainerFixtures.releasesTopic(t.checkpoints());
    Path out = TestDirs.fresh("follow-out");
    try (FakeVllm vllm = new FakeVllm(); SchemaRegistryClient client = registry.client(true)) {
      Thread follower = new Thread(() -> TrainerCli.commandLine().execute("pull", "--bootstrap",
          kafka.bootstrapServers(), "--registry", registry.url(), "--topic", t.checkpoints(),
          "--releases-topic", releases, "--out", out.toString(), "--follow",
          "--interval-seconds", "1", "--vllm-url", vllm.url()));
      try {
        TrainerFixtures.produce(kafka, client, t.examples(), examples);
        // Every candidate released, so the follower sees a run of releases.
        var config = TrainerFixtures.settings(kafka, registry.url(), model, t.examples(), t.dlq(),
            t.checkpoints(), "default", "follow-" + t.examples()).set(TrainerConfig.EVAL_FRACTION, 0)
            .set(TrainerConfig.RELEASE_POLICY, io.continualsft.trainer.config.TrainerSettings.ReleasePolicy
                .EVERY_CANDIDATE).build();
        follower.start();
        TrainerServiceIT.runUntil(config, kafka, client, t.checkpoints(), "default",
            c -> c.manifest().getSourceOffsets().get(0).getOffset() == examples.size()).close();
        Checkpoint newest = TrainerServiceIT.newest(kafka, client, t.checkpoints(), "default")
            .orElseThrow();
        long last = newest.version();
        assertThat(last).isGreaterThanOrEqualTo(3);

        await(() -> vllm.served().equals(Set.of("default-v" + last)), "v" + last + " served");
        assertThat(Files.readSymbolicLink(out.resolve("latest")).toString()).isEqualTo("v" + last);
        assertThat(CheckpointCodec.sha256(Files.readAllBytes(out.resolve("latest")
            .resolve(Checkpoint.ADAPTER_WEIGHTS))))
            .isEqualTo(CheckpointCodec.sha256(newest.files().get(Checkpoint.ADAPTER_WEIGHTS)));
        // Each version loaded was unloaded only after the one replacing it was loaded.
        List<String> calls = List.copyOf(vllm.calls);
        for (int i = 0; i < calls.size(); i++) {
          if (calls.get(i).startsWith("unload ")) {
            assertThat(calls.subList(0, i)).filteredOn(c -> c.startsWith("load ")).last()
                .isNotEqualTo("load " + calls.get(i).substring(7));
          }
        }
        long loads = calls.stream().filter(c -> c.startsWith("load ")).count();
        assertThat(calls.stream().filter(c -> c.startsWith("unload ")).count())
            .isEqualTo(loads - 1);

        // vLLM restarts: the release is loaded again.
        vllm.restart();
        await(() -> vllm.served().equals(Set.of("default-v" + last)), "reloaded after restart");

        // A rollback by hand: pull delivers it, and vLLM swaps back.
        assertThat(TrainerCli.commandLine().execute("release", "--bootstrap",
            kafka.bootstrapServers(), "--registry", registry.url(), "--topic", t.checkpoints(),
            "--releases-topic", releases, "--adapter", "default", "--to", "2",
            "--reason", "v" + last + " is worse in production")).isZero();
        await(() -> vllm.served().equals(Set.of("default-v2")), "the rollback served");
        assertThat(Files.readSymbolicLink(out.resolve("latest")).toString()).isEqualTo("v2");
        assertThat(vllm.calls.getLast()).isEqualTo("unload default-v" + last);

        // Forged: a release of a version that was never a checkpoint, written straight to the
        // releases topic. `release --to` refuses to write one; a one-shot pull refuses to serve
        // it; the follower keeps serving v2 and never asks vLLM for it.
        assertThat(TrainerCli.commandLine().execute("release", "--bootstrap",
            kafka.bootstrapServers(), "--registry", registry.url(), "--topic", t.checkpoints(),
            "--releases-topic", releases, "--adapter", "default", "--to", "999",
            "--reason", "no such version")).isNotZero();
        try (var forger = new org.apache.kafka.clients.producer.KafkaProducer<>(
            Map.<String, Object>of("bootstrap.servers", kafka.bootstrapServers()),
            new org.apache.kafka.common.serialization.StringSerializer(),
            new io.continualsft.schemas.serde.AvroSerializer<io.continualsft.avro.AdapterRelease>(
                client, false))) {
          forger.send(new org.apache.kafka.clients.producer.ProducerRecord<>(releases, "default",
              io.continualsft.trainer.release.Releases.next(java.util.Optional.empty(), "default",
                  999, io.continualsft.avro.ReleaseDecision.MANUAL, "forged", Map.of(),
                  Instant.now()))).get();
        }
        Path oneShot = TestDirs.fresh("follow-forged").resolve("adapter");
        assertThat(TrainerCli.commandLine().execute("pull", "--bootstrap",
            kafka.bootstrapServers(), "--registry", registry.url(), "--topic", t.checkpoints(),
            "--releases-topic", releases, "--out", oneShot.toString())).isNotZero();
        assertThat(oneShot).doesNotExist();
        // A real release after the forged one: the follower moves to it, never to v999.
        assertThat(TrainerCli.commandLine().execute("release", "--bootstrap",
            kafka.bootstrapServers(), "--registry", registry.url(), "--topic", t.checkpoints(),
            "--releases-topic", releases, "--adapter", "default", "--to", "3",
            "--reason", "after the forgery")).isZero();
        await(() -> vllm.served().equals(Set.of("default-v3")), "v3 served after the forgery");
        assertThat(vllm.calls).noneMatch(c -> c.contains("v999"));
        assertThat(out.resolve("v999")).doesNotExist();

        // A rollback that holds, then resume: both written to the topic as the trainer reads
        // them (the trainer's side: TrainerServiceTest); the follower serves the rollback.
        assertThat(TrainerCli.commandLine().execute("release", "--bootstrap",
            kafka.bootstrapServers(), "--registry", registry.url(), "--topic", t.checkpoints(),
            "--releases-topic", releases, "--adapter", "default", "--to", "2", "--hold",
            "--reason", "checking the data")).isZero();
        await(() -> vllm.served().equals(Set.of("default-v2")), "the held rollback served");
        try (var log = io.continualsft.trainer.release.ReleaseLog.open(kafka.bootstrapServers(),
            io.continualsft.schemas.registry.SchemaRegistryConfig.fromMap(Map.of(
                "schema.registry.url", registry.url())), releases, Map.of())) {
          var held = log.current("default").orElseThrow();
          assertThat(held.getVersion()).isEqualTo(2);
          assertThat(held.getHold().getReason()).isEqualTo("checking the data");
          assertThat(TrainerCli.commandLine().execute("release", "--bootstrap",
              kafka.bootstrapServers(), "--registry", registry.url(), "--topic",
              t.checkpoints(), "--releases-topic", releases, "--adapter", "default",
              "--resume")).isZero();
          // commitTransaction returns before every reader sees the record (the markers are
          // written after): wait for it, as the trainer's StableRead does.
          await(() -> log.current("default").orElseThrow().getHold() == null,
              "the resume readable");
          var resumed = log.current("default").orElseThrow();
          assertThat(resumed.getVersion()).isEqualTo(2);
          assertThat(resumed.getHold()).isNull();
          assertThat(resumed.getHistory()).isEqualTo(held.getHistory());
        }

        // The adapter's report from the topics: one row per checkpoint with the release on
        // record for it, and the training loss of each.
        Path report = TestDirs.fresh("follow-report").resolve("report.html");
        assertThat(TrainerCli.commandLine().execute("report", "--bootstrap",
            kafka.bootstrapServers(), "--registry", registry.url(), "--topic", t.checkpoints(),
            "--releases-topic", releases, "--adapter", "default", "--dead-letter-topics",
            t.dlq(), "--out", report.toString())).isZero();
        var doc = javax.xml.parsers.DocumentBuilderFactory.newInstance().newDocumentBuilder()
            .parse(report.toFile());
        var xpath = javax.xml.xpath.XPathFactory.newInstance().newXPath();
        assertThat(xpath.evaluate("count(//table[@id='checkpoints']//tr[td])", doc))
            .isEqualTo(String.valueOf(last));
        // A release record carries the history before it, and the forgery above carried none:
        // of the trainer's own releases only those after it (v2, v3) are still on record.
        assertThat(xpath.evaluate("count(//table[@id='checkpoints']//tr[td[5]='released'])",
            doc)).isEqualTo("2");
        assertThat(xpath.evaluate("//table[@id='checkpoints']//tr[td[1]='v1']/td[5]", doc))
            .isEqualTo("not_judged");
        assertThat(xpath.evaluate("count(//*[@id='train-loss']//*[@class='point'])", doc))
            .isEqualTo(String.valueOf(last));
        assertThat(xpath.evaluate("//table[@id='checkpoints']//tr[td[1]='v3']/td[6]", doc))
            .isEqualTo("MANUAL: after the forgery");
        assertThat(xpath.evaluate("//table[@id='checkpoints']//tr[td[1]='v2']/td[6]", doc))
            .isEqualTo("MANUAL: checking the data");

        // An erasure revoked v3 and later: the record the trainer writes moves serving back to
        // v2, which the follower serves; then every version: serving none, vLLM unloads.
        try (var log = io.continualsft.trainer.release.ReleaseLog.open(kafka.bootstrapServers(),
            io.continualsft.schemas.registry.SchemaRegistryConfig.fromMap(Map.of(
                "schema.registry.url", registry.url())), releases, Map.of());
            var trainerSide = new org.apache.kafka.clients.producer.KafkaProducer<>(
                Map.<String, Object>of("bootstrap.servers", kafka.bootstrapServers()),
                new org.apache.kafka.common.serialization.StringSerializer(),
                new io.continualsft.schemas.serde.AvroSerializer<
                    io.continualsft.avro.AdapterRelease>(client, false))) {
          assertThat(TrainerCli.commandLine().execute("release", "--bootstrap",
              kafka.bootstrapServers(), "--registry", registry.url(), "--topic",
              t.checkpoints(), "--releases-topic", releases, "--adapter", "default", "--to",
              "3", "--reason", "before the erasure")).isZero();
          await(() -> vllm.served().equals(Set.of("default-v3")), "v3 served again");
          var revokedFromV3 = io.continualsft.trainer.release.Releases.revoke(
              log.current("default"), "default",
              java.util.stream.LongStream.rangeClosed(3, last).boxed().toList(),
              "erasure requests req-9", Instant.now(), v -> v <= last).orElseThrow();
          assertThat(revokedFromV3.getVersion()).isEqualTo(2);
          trainerSide.send(new org.apache.kafka.clients.producer.ProducerRecord<>(releases,
              "default", revokedFromV3)).get();
          await(() -> vllm.served().equals(Set.of("default-v2")), "back to v2, not revoked");
          assertThat(TrainerCli.commandLine().execute("release", "--bootstrap",
              kafka.bootstrapServers(), "--registry", registry.url(), "--topic",
              t.checkpoints(), "--releases-topic", releases, "--adapter", "default", "--to",
              "3")).as("release --to a revoked version").isNotZero();
          await(() -> log.current("default").orElseThrow().getVersion() == 2,
              "the revocation readable");
          var none = io.continualsft.trainer.release.Releases.revoke(log.current("default"),
              "default", List.of(1L, 2L), "erasure requests req-10", Instant.now(),
              v -> v <= last).orElseThrow();
          assertThat(none.getVersion()).isZero();
          trainerSide.send(new org.apache.kafka.clients.producer.ProducerRecord<>(releases,
              "default", none)).get();
          await(() -> vllm.served().isEmpty(), "no version served");
          await(() -> !Files.exists(out.resolve("latest"), java.nio.file.LinkOption.NOFOLLOW_LINKS),
              "the latest link gone");
          assertThat(vllm.calls.getLast()).isEqualTo("unload default-v2");
        }
      } finally {
        follower.interrupt();
        follower.join(10_000);
      }
    }
  }

  static void await(BooleanSupplier condition, String what) throws InterruptedException {
    Instant deadline = Instant.now().plusSeconds(60);
    while (Instant.now().isBefore(deadline) && !condition.getAsBoolean()) {
      Thread.sleep(100);
    }
    assertThat(condition.getAsBoolean()).as(what).isTrue();
  }
}
