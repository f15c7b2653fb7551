package io.continualsft.runtime.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** /metrics in Prometheus's text format, /health following the service's state. */
class MetricsServerTest {
  private final HttpClient http = HttpClient.newBuilder()
      .connectTimeout(Duration.ofSeconds(5)).build();

  private HttpResponse<String> get(MetricsServer server, String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
        + path)).timeout(Duration.ofSeconds(10)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void metricsAreScrapedAndHealthFollowsTheState() throws Exception {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    registry.counter("sft.test.records").increment(3);
    AtomicReference<MetricsServer.Health> health =
        new AtomicReference<>(new MetricsServer.Health(true, "RUNNING"));
    MetricsServer server = MetricsServer.start("127.0.0.1", 0, registry, health::get);
    try {
      HttpResponse<String> metrics = get(server, "/metrics");
      assertThat(metrics.statusCode()).isEqualTo(200);
      assertThat(metrics.headers().firstValue("Content-Type")).hasValueSatisfying(
          t -> assertThat(t).startsWith("text/plain; version=0.0.4"));
      assertThat(metrics.body()).contains("sft_test_records_total 3.0");
      HttpResponse<String> up = get(server, "/health");
      assertThat(up.statusCode()).isEqualTo(200);
      assertThat(up.body()).isEqualTo("RUNNING\n");
      health.set(new MetricsServer.Health(false, "FAILED"));
      HttpResponse<String> down = get(server, "/health");
      assertThat(down.statusCode()).isEqualTo(503);
      assertThat(down.body()).isEqualTo("FAILED\n");
    } finally {
      server.close();
    }
    assertThatThrownBy(() -> get(server, "/health")).as("closed: nothing listens")
        .isInstanceOf(ConnectException.class);
  }

  @Test
  void aPortInUseFailsNamingTheKey() throws IOException {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    try (MetricsServer first = MetricsServer.start("127.0.0.1", 0, registry,
        () -> new MetricsServer.Health(true, "RUNNING"))) {
      assertThatThrownBy(() -> MetricsServer.start("127.0.0.1", first.port(), registry,
          () -> new MetricsServer.Health(true, "RUNNING")))
          .isInstanceOf(UncheckedIOException.class)
          .hasMessageContaining("127.0.0.1:" + first.port()).hasMessageContaining("metrics.port");
    }
  }
}
