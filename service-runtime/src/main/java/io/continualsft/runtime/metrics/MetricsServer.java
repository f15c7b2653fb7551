package io.continualsft.runtime.metrics;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;
import org.slf4j.LoggerFactory;

/**
 * {@code GET /metrics} in the Prometheus text format and {@code GET /health}: 200 while the
 * service is healthy, 503 otherwise, with the state as the body. The JDK's own HTTP server: two
 * endpoints do not justify a web framework.
 */
public final class MetricsServer implements AutoCloseable {
  /** The health answer: healthy or not, and a one-line state. */
  public record Health(boolean healthy, String state) {}

  private final HttpServer server;

  private MetricsServer(HttpServer server) {
    this.server = server;
  }

  public static MetricsServer start(String host, int port, PrometheusMeterRegistry registry,
      Supplier<Health> health) {
    try {
      HttpServer server = HttpServer.create(new InetSocketAddress(host, port), 0);
      server.createContext("/metrics", exchange -> {
        respond(exchange, 200, registry.scrape(), "text/plain; version=0.0.4; charset=utf-8");
      });
      server.createContext("/health", exchange -> {
        Health h = health.get();
        respond(exchange, h.healthy() ? 200 : 503, h.state() + "\n", "text/plain; charset=utf-8");
      });
      server.start();
      // Said out loud: an unauthenticated endpoint on every interface is a choice to see.
      LoggerFactory.getLogger(MetricsServer.class).info(
          "metrics at http://{}:{}/metrics, health at /health (unauthenticated{})", host,
          server.getAddress().getPort(), host.equals("0.0.0.0") || host.equals("::")
              ? "; bound to all interfaces: set metrics.host to narrow it" : "");
      return new MetricsServer(server);
    } catch (IOException e) {
      throw new UncheckedIOException("could not open the metrics endpoint on " + host + ":" + port
          + " (metrics.port)", e);
    }
  }

  public int port() {
    return server.getAddress().getPort();
  }

  private static void respond(HttpExchange exchange, int status, String body, String type)
      throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().add("Content-Type", type);
    exchange.sendResponseHeaders(status, bytes.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(bytes);
    }
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
