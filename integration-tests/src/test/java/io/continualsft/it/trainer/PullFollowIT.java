package io.continualsft.it.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.continualsft.avro.SftExample;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.it.support.TestDirs;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointCodec;
import io.continualsft.trainer.cli.TrainerCli;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * pull --follow writes each new version to v&lt;N&gt;/ with a `latest` link and asks vLLM to load
 * it. No vLLM runs here, so a loopback HTTP server records what it is sent.
 */
@RealServices
class PullFollowIT {

  @Test
  void followWritesEachVersionAndTellsVllm(KafkaCluster kafka, SchemaRegistry registry)
      throws Exception {
    Path model = TrainerFixtures.tinyModel(Files.createDirectories(TestDirs.fresh("follow-model")));
    TrainerServiceIT.Topics t = TrainerServiceIT.Topics.create(kafka);
    List<SftExample> examples = TrainerFixtures.examples(model,
        TrainerFixtures.conversations(40, "follow"), t.examples());
    List<String> loads = new CopyOnWriteArrayList<>();
    HttpServer vllm = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    vllm.createContext("/v1/load_lora_adapter", exchange -> {
      loads.add(new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
      // The first call finds vLLM restarting: the follower must retry, not give up.
      exchange.sendResponseHeaders(loads.size() == 1 ? 503 : 200, -1);
      exchange.close();
    });
    vllm.start();
    Path out = TestDirs.fresh("follow-out");
    Thread follower = new Thread(() -> TrainerCli.commandLine().execute("pull", "--bootstrap",
        kafka.bootstrapServers(), "--registry", registry.url(), "--topic", t.checkpoints(),
        "--out", out.toString(), "--follow", "--interval-seconds", "1",
        "--vllm-url", "http://127.0.0.1:" + vllm.getAddress().getPort()));
    try (SchemaRegistryClient client = registry.client(true)) {
      TrainerFixtures.produce(kafka, client, t.examples(), examples);
      var config = TrainerFixtures.settings(kafka, registry.url(), model, t.examples(), t.dlq(),
          t.checkpoints(), "default", "follow-" + t.examples()).evalFraction(0).build();
      follower.start();
      TrainerServiceIT.runUntil(config, kafka, client, t.checkpoints(),
          "default", c -> c.manifest().getSourceOffsets().get(0).getOffset() == examples.size())
          .close();
      Checkpoint newest = TrainerServiceIT.newest(kafka, client, t.checkpoints(), "default")
          .orElseThrow();
      Path latest = out.resolve("latest");
      Instant deadline = Instant.now().plusSeconds(30);
      while (Instant.now().isBefore(deadline)
          && !(Files.exists(latest) && Files.readSymbolicLink(latest).toString()
              .equals("v" + newest.version()))) {
        Thread.sleep(200);
      }
      assertThat(Files.readSymbolicLink(latest).toString()).isEqualTo("v" + newest.version());
      assertThat(CheckpointCodec.sha256(Files.readAllBytes(latest.resolve(Checkpoint.ADAPTER_WEIGHTS))))
          .isEqualTo(CheckpointCodec.sha256(newest.files().get(Checkpoint.ADAPTER_WEIGHTS)));
      while (Instant.now().isBefore(deadline) && !loads.getLast().contains(
          "\"default-v" + newest.version() + "\"")) {
        Thread.sleep(200);
      }
      assertThat(loads).as("the refused first load was retried").hasSizeGreaterThanOrEqualTo(2);
      var last = new com.fasterxml.jackson.databind.ObjectMapper().readTree(loads.getLast());
      assertThat(last.path("lora_name").asText()).isEqualTo("default-v" + newest.version());
      assertThat(last.path("lora_path").asText())
          .isEqualTo(out.resolve("v" + newest.version()).toAbsolutePath().toString());
    } finally {
      follower.interrupt();
      follower.join(10_000);
      vllm.stop(0);
    }
  }
}
