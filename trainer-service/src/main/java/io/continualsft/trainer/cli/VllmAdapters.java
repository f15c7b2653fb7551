package io.continualsft.trainer.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.continualsft.schemas.registry.BoundedBodies;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The LoRA adapters a vLLM server serves, through its runtime endpoints ({@code
 * VLLM_ALLOW_RUNTIME_LORA_UPDATING=True}): {@code GET /v1/models}, {@code POST
 * /v1/load_lora_adapter} and {@code POST /v1/unload_lora_adapter}. Every call has a timeout.
 */
final class VllmAdapters {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** The largest response read from vLLM: a model list is small. */
  private static final int MAX_BODY_BYTES = 4 * 1024 * 1024;

  private final String base;
  private final Duration timeout;

  VllmAdapters(String url, Duration timeout) {
    this.base = url.replaceAll("/+$", "");
    this.timeout = timeout;
  }

  /**
   * Makes {@code <adapter>-v<version>} served from {@code dir}, then unloads every other version
   * of the adapter the server lists: the new one is up before the one it replaces goes.
   */
  void serveOnly(String adapter, long version, Path dir) throws IOException, InterruptedException {
    String name = adapter + "-v" + version;
    List<String> served = models();
    if (!served.contains(name)) {
      load(name, dir);
      System.out.printf("vLLM: loaded %s from %s%n", name, dir);
    }
    Pattern others = Pattern.compile(Pattern.quote(adapter) + "-v\\d+");
    for (String id : served) {
      if (!id.equals(name) && others.matcher(id).matches()) {
        unload(id);
        System.out.printf("vLLM: unloaded %s (replaced by %s)%n", id, name);
      }
    }
  }

  /** Unloads every version of {@code adapter} the server lists. */
  void unloadAll(String adapter) throws IOException, InterruptedException {
    Pattern versions = Pattern.compile(Pattern.quote(adapter) + "-v\\d+");
    for (String id : models()) {
      if (versions.matcher(id).matches()) {
        unload(id);
        System.out.printf("vLLM: unloaded %s (its release was revoked)%n", id);
      }
    }
  }

  /** The ids of the models and adapters the server serves. */
  List<String> models() throws IOException, InterruptedException {
    Reply r = send(HttpRequest.newBuilder(URI.create(base + "/v1/models"))
        .timeout(timeout).GET().build());
    if (r.statusCode() / 100 != 2) {
      throw new IOException("vLLM GET /v1/models: HTTP " + r.statusCode() + " " + brief(r.body()));
    }
    JsonNode tree;
    try {
      tree = JSON.readTree(r.body());
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IOException("vLLM GET /v1/models: not JSON (" + e.getOriginalMessage() + "): "
          + brief(r.body()));
    }
    if (tree == null || !tree.path("data").isArray()) {
      throw new IOException("vLLM GET /v1/models: no \"data\" array: " + brief(r.body()));
    }
    List<String> ids = new ArrayList<>();
    for (JsonNode m : tree.path("data")) {
      ids.add(m.path("id").asText());
    }
    return ids;
  }

  void load(String name, Path dir) throws IOException, InterruptedException {
    Map<String, String> request = new LinkedHashMap<>();
    request.put("lora_name", name);
    request.put("lora_path", dir.toString());
    Reply r = post("/v1/load_lora_adapter", request);
    if (r.statusCode() / 100 != 2 && !(r.statusCode() == 400 && r.body().contains("already"))) {
      throw new IOException("vLLM refused to load " + name + ": HTTP " + r.statusCode() + " "
          + brief(r.body()));
    }
  }

  void unload(String name) throws IOException, InterruptedException {
    Reply r = post("/v1/unload_lora_adapter", Map.of("lora_name", name));
    // 404 (or vLLM's 400 "not found"): gone already, as after a restart.
    if (r.statusCode() / 100 != 2 && r.statusCode() != 404
        && !(r.statusCode() == 400 && r.body().contains("not found"))) {
      throw new IOException("vLLM refused to unload " + name + ": HTTP " + r.statusCode() + " "
          + brief(r.body()));
    }
  }

  private Reply post(String path, Map<String, String> body)
      throws IOException, InterruptedException {
    return send(HttpRequest.newBuilder(URI.create(base + path)).timeout(timeout)
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build());
  }

  /** A status and a body read up to {@link #MAX_BODY_BYTES}, whatever the server sends. */
  private record Reply(int statusCode, String body) {}

  /**
   * One exchange, bounded as every call to a server the project does not control is: the
   * headers within the timeout, then the body within the timeout again and {@link
   * #MAX_BODY_BYTES} (a server that sends headers and then trickles, or streams without end,
   * fails the call instead of holding {@code pull --follow} forever).
   */
  private Reply send(HttpRequest request) throws IOException, InterruptedException {
    try (HttpClient http = HttpClient.newBuilder().connectTimeout(timeout).build()) {
      HttpResponse<byte[]> r;
      try {
        r = BoundedBodies.send(http, request, MAX_BODY_BYTES, timeout);
      } catch (IOException e) {
        throw new IOException("vLLM " + request.method() + " " + request.uri() + ": "
            + e.getMessage() + "; refusing it", e);
      }
      return new Reply(r.statusCode(), new String(r.body(),
          java.nio.charset.StandardCharsets.UTF_8));
    }
  }

  private static String brief(String body) {
    return body.length() > 500 ? body.substring(0, 500) + "..." : body;
  }
}
