package io.continualsft.local;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A real schema registry: Apicurio Registry (a ready Quarkus application that Maven unpacks from
 * Central) run as a child process on 127.0.0.1, in-memory storage, global compatibility BACKWARD.
 * Clients use its Confluent-compatible API at {@link #url()}.
 *
 * <p>Apicurio because Confluent's own server is not published on Maven Central; the project's
 * client speaks only the Confluent REST dialect, so any server that speaks it would do.
 */
public final class SchemaRegistryServer implements AutoCloseable {
  /** System property (and environment variable APICURIO_HOME) naming the unpacked app. */
  public static final String HOME_PROPERTY = "apicurio.home";
  private static final String CCOMPAT_PATH = "/apis/ccompat/v7";
  private static final Duration READY_TIMEOUT = Duration.ofSeconds(120);
  private static final int MIN_JAVA = 21;

  private final Path home;
  private final Path dir;
  private final int port;
  private final int managementPort;
  private final Tls tls; // null: HTTP only
  private final int httpsPort;
  private final ServiceProcess process;

  private SchemaRegistryServer(Path home, Path dir, int port, int managementPort, Tls tls,
      int httpsPort) {
    this.home = home;
    this.dir = dir;
    this.port = port;
    this.managementPort = managementPort;
    this.tls = tls;
    this.httpsPort = httpsPort;
    this.process = new ServiceProcess("schema-registry", "the schema registry at " + url(),
        READY_TIMEOUT, Duration.ofMillis(250));
  }

  /**
   * An HTTPS port beside the HTTP one. (Apicurio's distribution fixes
   * {@code quarkus.http.ssl.client-auth} at build time to NONE: a client certificate is accepted
   * but cannot be required.)
   *
   * @param keystore PKCS12 with the server's key and certificate
   * @param truststore PKCS12 with the CA that signs client certificates
   * @param password both stores' password
   */
  public record Tls(Path keystore, Path truststore, String password) {
    @Override
    public String toString() {
      return "Tls[keystore=" + keystore + ", truststore=" + truststore + "]";
    }
  }

  /**
   * Starts the registry found at {@link #locateHome()} with its work files under {@code dir}, and
   * waits until its Confluent-compatible API answers.
   */
  public static SchemaRegistryServer start(Path dir) {
    return start(locateHome(), dir);
  }

  public static SchemaRegistryServer start(Path home, Path dir) {
    return start(home, dir, null);
  }

  /** As {@link #start(Path, Path)}, with an HTTPS port too when {@code tls} is given. */
  public static SchemaRegistryServer start(Path home, Path dir, Tls tls) {
    if (JavaRuntime.featureVersion() < MIN_JAVA) {
      throw new IllegalStateException(
          "Apicurio Registry needs Java " + MIN_JAVA + "+, but this JVM is "
              + Runtime.version() + ": run with a JDK " + MIN_JAVA + " or newer (JAVA_HOME)");
    }
    Path jar = home.resolve("quarkus-run.jar");
    if (!Files.isRegularFile(jar)) {
      throw new IllegalStateException(
          "no quarkus-run.jar in " + home + ": build the local-run module first"
              + " (./mvnw -pl local-run -am package -DskipTests unpacks the registry)");
    }
    int[] ports = FreePorts.distinct(3);
    SchemaRegistryServer server = new SchemaRegistryServer(home, dir, ports[0], ports[1], tls,
        tls == null ? -1 : ports[2]);
    server.launch();
    return server;
  }

  /**
   * Where the unpacked registry lives: the {@value #HOME_PROPERTY} system property, else the
   * APICURIO_HOME environment variable, else the build's default location.
   */
  public static Path locateHome() {
    String configured = System.getProperty(HOME_PROPERTY, System.getenv("APICURIO_HOME"));
    if (configured != null && !configured.isBlank()) {
      return Path.of(configured);
    }
    for (Path candidate : List.of(
        Path.of("target", "apicurio-registry"),
        Path.of("local-run", "target", "apicurio-registry"),
        Path.of("..", "local-run", "target", "apicurio-registry"))) {
      if (Files.isRegularFile(candidate.resolve("quarkus-run.jar"))) {
        return candidate.toAbsolutePath().normalize();
      }
    }
    return Path.of("local-run", "target", "apicurio-registry").toAbsolutePath();
  }

  /** Base URL of the Confluent-compatible API, e.g. {@code http://127.0.0.1:PORT/apis/ccompat/v7}. */
  public String url() {
    return "http://127.0.0.1:" + port + CCOMPAT_PATH;
  }

  public int port() {
    return port;
  }

  /** The Confluent-compatible API over HTTPS. */
  public String httpsUrl() {
    if (tls == null) {
      throw new IllegalStateException("this registry was started without TLS");
    }
    return "https://localhost:" + httpsPort + CCOMPAT_PATH;
  }

  public Duration lastStartup() {
    return process.lastStartup();
  }

  public boolean isRunning() {
    return process.isRunning();
  }

  public long pid() {
    return process.pid();
  }

  public void stop() {
    process.stop(Duration.ofSeconds(20));
  }

  @Override
  public void close() {
    stop();
  }

  public String logTail(int lines) {
    return process.logTail(lines);
  }

  private void launch() {
    try {
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new UncheckedIOException("could not create " + dir, e);
    }
    List<String> command = new ArrayList<>(List.of(
        JavaRuntime.javaExecutable(),
        "-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
        "-Dquarkus.http.host=127.0.0.1",
        "-Dquarkus.http.port=" + port,
        // Without these the management interface opens 0.0.0.0:9000.
        "-Dquarkus.management.host=127.0.0.1",
        "-Dquarkus.management.port=" + managementPort,
        "-Dapicurio.rules.global.compatibility=BACKWARD",
        "-Dquarkus.log.console.color=false",
        "-Dquarkus.banner.enabled=false"));
    if (tls != null) {
      command.addAll(List.of(
          "-Dquarkus.http.ssl-port=" + httpsPort,
          "-Dquarkus.http.ssl.certificate.key-store-file=" + tls.keystore(),
          "-Dquarkus.http.ssl.certificate.key-store-file-type=PKCS12",
          "-Dquarkus.http.ssl.certificate.key-store-password=" + tls.password(),
          "-Dquarkus.http.ssl.certificate.trust-store-file=" + tls.truststore(),
          "-Dquarkus.http.ssl.certificate.trust-store-file-type=PKCS12",
          "-Dquarkus.http.ssl.certificate.trust-store-password=" + tls.password()));
    }
    command.addAll(List.of("-jar", home.resolve("quarkus-run.jar").toString()));
    URI probe = URI.create(url() + "/subjects");
    try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build()) {
      process.launch(command, dir, dir.resolve("registry.log"), () -> http.send(
          HttpRequest.newBuilder(probe).timeout(Duration.ofSeconds(5)).GET().build(),
          HttpResponse.BodyHandlers.discarding()).statusCode() == 200);
    }
  }

  @Override
  public String toString() {
    return "SchemaRegistryServer[" + url() + "]";
  }
}
