package io.continualsft.trainer.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * vLLM's runtime LoRA endpoints as {@code pull --follow --vllm-url} drives them, against a
 * server on loopback that answers as vLLM does: the new version is loaded before the versions it
 * replaces are unloaded, other adapters are left alone, and vLLM's "already"/"not found" answers
 * are not errors.
 */
class VllmAdaptersTest {
  private HttpServer server;
  private final List<String> served = new CopyOnWriteArrayList<>();
  private final List<String> calls = new CopyOnWriteArrayList<>();
  private volatile int loadStatus = 200;
  private volatile String loadBody = "";
  private volatile String modelsBody;

  @BeforeEach
  void start() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/v1/models", ex -> {
      calls.add("GET /v1/models");
      String body = modelsBody != null ? modelsBody : "{\"data\": [" + String.join(", ",
          served.stream().map(id -> "{\"id\": \"" + id + "\"}").toList()) + "]}";
      reply(ex, 200, body);
    });
    server.createContext("/v1/load_lora_adapter", ex -> {
      String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
      calls.add("load " + body);
      if (loadStatus == 200) {
        served.add(body.replaceAll(".*\"lora_name\":\"([^\"]+)\".*", "$1"));
      }
      reply(ex, loadStatus, loadBody);
    });
    server.createContext("/v1/unload_lora_adapter", ex -> {
      String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
      String name = body.replaceAll(".*\"lora_name\":\"([^\"]+)\".*", "$1");
      calls.add("unload " + name);
      reply(ex, served.remove(name) ? 200 : 404, "");
    });
    server.start();
  }

  @AfterEach
  void stop() {
    server.stop(0);
  }

  private VllmAdapters vllm() {
    return new VllmAdapters("http://127.0.0.1:" + server.getAddress().getPort() + "/",
        Duration.ofSeconds(10));
  }

  private static void reply(HttpExchange ex, int status, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(bytes);
    }
  }

  @Test
  void theNewVersionIsLoadedBeforeTheOldOnesGoAndOtherAdaptersStay() throws Exception {
    served.addAll(List.of("base", "acme-v1", "acme-v2", "acme-corp-v1", "globex-v7"));
    vllm().serveOnly("acme", 3, Path.of("/adapters/acme/v3"));
    assertThat(calls).containsExactly("GET /v1/models",
        "load {\"lora_name\":\"acme-v3\",\"lora_path\":\"/adapters/acme/v3\"}",
        "unload acme-v1", "unload acme-v2");
    assertThat(served).containsExactlyInAnyOrder("base", "acme-v3", "acme-corp-v1", "globex-v7");
  }

  @Test
  void aVersionServedAlreadyIsNotLoadedAgain() throws Exception {
    served.addAll(List.of("acme-v3"));
    vllm().serveOnly("acme", 3, Path.of("/adapters/acme/v3"));
    assertThat(calls).containsExactly("GET /v1/models");
  }

  @Test
  void vllmsAlreadyLoadedAndNotFoundAnswersAreNotErrors() throws Exception {
    loadStatus = 400;
    loadBody = "{\"message\": \"The lora adapter 'acme-v3' has already been loaded.\"}";
    vllm().load("acme-v3", Path.of("/a"));
    vllm().unload("never-loaded"); // 404
  }

  @Test
  void aRefusalIsAnErrorNamingTheAdapterAndTheStatus() {
    loadStatus = 500;
    loadBody = "{\"message\": \"out of memory\"}";
    assertThatThrownBy(() -> vllm().serveOnly("acme", 1, Path.of("/a")))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("acme-v1").hasMessageContaining("HTTP 500")
        .hasMessageContaining("out of memory");
  }

  @Test
  void aResponseOverTheBoundIsRefusedNotRead() {
    StringBuilder huge = new StringBuilder("{\"data\": [");
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 200_000; i++) {
      ids.add("{\"id\": \"model-" + i + "\"}");
    }
    modelsBody = huge.append(String.join(",", ids)).append("]}").toString();
    assertThatThrownBy(() -> vllm().models())
        .isInstanceOf(IOException.class).hasMessageContaining("refusing it");
  }

  /** A server answering /v1/models with {@code handler}, and a client with a 1 s timeout. */
  private static <T> T againstHostile(com.sun.net.httpserver.HttpHandler handler,
      java.util.concurrent.Callable<T> call) throws Exception {
    HttpServer hostile = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(),
        0), 0);
    hostile.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
    hostile.createContext("/v1/models", handler);
    hostile.start();
    HOSTILE_PORT.set(hostile.getAddress().getPort());
    try {
      return call.call();
    } finally {
      hostile.stop(0);
    }
  }

  private static final java.util.concurrent.atomic.AtomicInteger HOSTILE_PORT =
      new java.util.concurrent.atomic.AtomicInteger();

  private static VllmAdapters hostileClient() {
    return new VllmAdapters("http://127.0.0.1:" + HOSTILE_PORT.get(), Duration.ofSeconds(1));
  }

  /** Headers at once, then a body one byte every half second: the deadline ends it. */
  @Test
  @org.junit.jupiter.api.Timeout(60)
  void aServerThatTricklesItsBodyIsCutOffAtTheDeadline() throws Exception {
    assertThatThrownBy(() -> againstHostile(ex -> {
      ex.sendResponseHeaders(200, 0); // chunked
      try (OutputStream out = ex.getResponseBody()) {
        for (int i = 0; i < 1_000; i++) {
          out.write('{');
          out.flush();
          Thread.sleep(500);
        }
      } catch (InterruptedException | IOException e) {
        // the client went away
      }
    }, () -> hostileClient().models()))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("vLLM GET http://127.0.0.1:")
        .hasMessageContaining("was not complete within PT1S");
  }

  /** A body without end, as fast as the server can write it: the size bound ends it. */
  @Test
  @org.junit.jupiter.api.Timeout(60)
  void aServerThatStreamsWithoutEndIsCutOffAtTheSizeBound() throws Exception {
    byte[] chunk = new byte[64 * 1024];
    java.util.Arrays.fill(chunk, (byte) ' ');
    assertThatThrownBy(() -> againstHostile(ex -> {
      ex.sendResponseHeaders(200, 0);
      try (OutputStream out = ex.getResponseBody()) {
        for (int i = 0; i < 1_000_000; i++) {
          out.write(chunk);
        }
      } catch (IOException e) {
        // the client went away
      }
    }, () -> hostileClient().models()))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("is over the limit of 4194304 bytes");
  }

  /** Malformed answers are errors that say what came back, never a crash or a silent empty list. */
  @Test
  void malformedAnswersAreErrorsNamingWhatCameBack() throws Exception {
    assertThatThrownBy(() -> againstHostile(ex -> reply(ex, 200, "<html>not json"),
        () -> hostileClient().models()))
        .isInstanceOf(IOException.class)
        .hasMessageStartingWith("vLLM GET /v1/models: not JSON (")
        .hasMessageEndingWith("<html>not json");
    assertThatThrownBy(() -> againstHostile(ex -> reply(ex, 200, "{\"object\": \"list\"}"),
        () -> hostileClient().models()))
        .isInstanceOf(IOException.class)
        .hasMessage("vLLM GET /v1/models: no \"data\" array: {\"object\": \"list\"}");
    assertThatThrownBy(() -> againstHostile(ex -> reply(ex, 200, "[1, 2"),
        () -> hostileClient().models()))
        .isInstanceOf(IOException.class).hasMessageContaining("not JSON");
  }
}
