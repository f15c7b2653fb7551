package io.continualsft.local;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Uuid;

/**
 * A real, single-node Apache Kafka broker in KRaft mode (broker and controller in one process),
 * run as a child JVM from the Kafka jars on this JVM's class path, bound to 127.0.0.1 on free
 * ports.
 *
 * <p>A child JVM rather than an in-process {@code KafkaRaftServer}: it uses only Kafka's public
 * command-line entry points ({@code kafka.tools.StorageTool}, {@code kafka.Kafka}), keeps the
 * broker's threads and heap out of the caller's JVM, and can be stopped, killed and restarted on
 * the same log directory, which the fault tests need. It costs a JVM start (a few seconds).
 */
public final class KafkaBroker implements AutoCloseable {
  private static final Duration READY_TIMEOUT = Duration.ofSeconds(90);

  private final Path dir;
  private final int port;
  private final int controllerPort;
  private final SaslSsl saslSsl; // null: PLAINTEXT only
  private final int saslSslPort;
  private final Path config;
  private final ServiceProcess process;

  /**
   * A second listener, SASL_SSL with SCRAM-SHA-512, for clients of a secured cluster.
   *
   * @param keystore PKCS12 key store with the broker's key and a certificate for 127.0.0.1
   * @param password the key store's (and key's) password
   * @param users SCRAM credentials created when the log directory is formatted, name to password
   */
  public record SaslSsl(Path keystore, String password, Map<String, String> users) {
    @Override
    public String toString() {
      return "SaslSsl[keystore=" + keystore + ", users=" + users.keySet() + "]";
    }
  }

  private KafkaBroker(Path dir, int port, int controllerPort, SaslSsl saslSsl, int saslSslPort) {
    this.dir = dir;
    this.port = port;
    this.controllerPort = controllerPort;
    this.saslSsl = saslSsl;
    this.saslSslPort = saslSslPort;
    this.config = dir.resolve("server.properties");
    this.process = new ServiceProcess("kafka-broker", "the Kafka broker at 127.0.0.1:" + port,
        READY_TIMEOUT, Duration.ofMillis(200));
  }

  /**
   * Formats a fresh log directory under {@code dir}, starts the broker and waits until it serves
   * metadata.
   */
  public static KafkaBroker start(Path dir) {
    int[] ports = FreePorts.distinct(2);
    KafkaBroker broker = new KafkaBroker(dir, ports[0], ports[1], null, -1);
    broker.format();
    broker.launch();
    return broker;
  }

  /**
   * As {@link #start(Path)}, with a SASL_SSL (SCRAM-SHA-512) listener beside the PLAINTEXT one,
   * whose SCRAM users exist from the start.
   */
  public static KafkaBroker start(Path dir, SaslSsl saslSsl) {
    int[] ports = FreePorts.distinct(3);
    KafkaBroker broker = new KafkaBroker(dir, ports[0], ports[1], saslSsl, ports[2]);
    broker.format();
    broker.launch();
    return broker;
  }

  /** The SASL_SSL listener's address. */
  public String saslSslBootstrapServers() {
    if (saslSsl == null) {
      throw new IllegalStateException("this broker has no SASL_SSL listener");
    }
    return "127.0.0.1:" + saslSslPort;
  }

  public String bootstrapServers() {
    return "127.0.0.1:" + port;
  }

  public int port() {
    return port;
  }

  public Path directory() {
    return dir;
  }

  /** How long the last (re)start took until the broker answered metadata requests. */
  public Duration lastStartup() {
    return process.lastStartup();
  }

  public boolean isRunning() {
    return process.isRunning();
  }

  public long pid() {
    return process.pid();
  }

  /** Controlled shutdown (SIGTERM), waiting for the process to exit. */
  public void stop() {
    process.stop(Duration.ofSeconds(30));
  }

  /** SIGKILL, as a crash: no controlled shutdown, logs recovered on the next start. */
  public void kill() {
    process.kill();
  }

  /** Starts again on the same ports and log directory; every committed record is still there. */
  public void restart() {
    if (isRunning()) {
      throw new IllegalStateException("the broker is still running; stop() or kill() it first");
    }
    launch();
  }

  @Override
  public void close() {
    stop();
  }

  public String logTail(int lines) {
    return process.logTail(lines);
  }

  private void format() {
    try {
      Files.createDirectories(dir.resolve("data"));
      writeConfig();
    } catch (IOException e) {
      throw new UncheckedIOException("could not prepare the broker directory " + dir, e);
    }
    List<String> command = javaCommand("kafka.tools.StorageTool");
    command.addAll(List.of("format", "--standalone", "--ignore-formatted",
        "-t", Uuid.randomUuid().toString(), "-c", config.toString()));
    if (saslSsl != null) {
      saslSsl.users().forEach((user, password) -> command.addAll(List.of("--add-scram",
          "SCRAM-SHA-512=[name=" + user + ",password=" + password + "]")));
    }
    ChildProcess.run("kafka-storage-format", command, dir, dir.resolve("format.log"),
        Duration.ofSeconds(120));
  }

  private void launch() {
    List<String> command = javaCommand("kafka.Kafka");
    command.add(config.toString());
    Map<String, Object> adminConfig = Map.of(
        AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers(),
        AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 2000,
        AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 3000,
        AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, 100,
        AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, 500);
    try (Admin admin = Admin.create(adminConfig)) {
      // Ready means a broker is registered and the controller answers, not just a socket.
      process.launch(command, dir, dir.resolve("broker.log"), () ->
          !admin.describeCluster().nodes().get(3, TimeUnit.SECONDS).isEmpty()
              && admin.describeCluster().controller().get(3, TimeUnit.SECONDS) != null);
    }
  }

  private List<String> javaCommand(String mainClass) {
    List<String> command = new ArrayList<>();
    command.add(JavaRuntime.javaExecutable());
    command.addAll(List.of(
        "-Xms128m", "-Xmx512m",
        // Small, short-lived JVM on few cores: skip C2 and use the serial collector.
        "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto",
        "-Djava.awt.headless=true",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
        // Overrides any simplelogger.properties on the class path (the tests quiet Kafka there).
        "-Dorg.slf4j.simpleLogger.log.org.apache.kafka=info",
        "-Dorg.slf4j.simpleLogger.showDateTime=true",
        "-cp", JavaRuntime.expandedClassPath(),
        mainClass));
    return command;
  }

  private void writeConfig() throws IOException {
    Properties p = new Properties();
    String controller = "127.0.0.1:" + controllerPort;
    p.putAll(Map.ofEntries(
        Map.entry("process.roles", "broker,controller"),
        Map.entry("node.id", "1"),
        Map.entry("listeners", "PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://" + controller),
        Map.entry("advertised.listeners", "PLAINTEXT://127.0.0.1:" + port),
        Map.entry("controller.listener.names", "CONTROLLER"),
        Map.entry("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"),
        Map.entry("inter.broker.listener.name", "PLAINTEXT"),
        // With --standalone formatting the quorum is given by bootstrap servers, not voters.
        Map.entry("controller.quorum.bootstrap.servers", controller),
        Map.entry("log.dirs", dir.resolve("data").toString()),
        // A single node: every internal topic must have replication factor 1, or group joins
        // and initTransactions() hang without an error.
        Map.entry("offsets.topic.replication.factor", "1"),
        Map.entry("offsets.topic.num.partitions", "1"),
        Map.entry("transaction.state.log.replication.factor", "1"),
        Map.entry("transaction.state.log.min.isr", "1"),
        Map.entry("transaction.state.log.num.partitions", "1"),
        Map.entry("share.coordinator.state.topic.replication.factor", "1"),
        Map.entry("share.coordinator.state.topic.min.isr", "1"),
        Map.entry("group.initial.rebalance.delay.ms", "0"),
        // A transaction left open by a killed client is aborted at most this long after its
        // transaction.timeout.ms (10 s by default): what blocks read_committed readers behind it.
        Map.entry("transaction.abort.timed.out.transaction.cleanup.interval.ms", "1000"),
        // After a SIGKILL the restarted broker cannot register until its old session expires
        // (9 s by default); on one loopback node a short session costs nothing.
        Map.entry("broker.session.timeout.ms", "2000"),
        Map.entry("broker.heartbeat.interval.ms", "500"),
        Map.entry("num.partitions", "1"),
        Map.entry("default.replication.factor", "1"),
        Map.entry("min.insync.replicas", "1"),
        // Topics are created explicitly, and waited for, by whoever needs them.
        Map.entry("auto.create.topics.enable", "false"),
        Map.entry("num.network.threads", "2"),
        Map.entry("num.io.threads", "2")));
    if (saslSsl != null) {
      p.put("listeners", p.get("listeners") + ",SASL_SSL://127.0.0.1:" + saslSslPort);
      p.put("advertised.listeners", p.get("advertised.listeners") + ",SASL_SSL://127.0.0.1:"
          + saslSslPort);
      p.put("listener.security.protocol.map", p.get("listener.security.protocol.map")
          + ",SASL_SSL:SASL_SSL");
      p.put("sasl.enabled.mechanisms", "SCRAM-SHA-512");
      p.put("listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config",
          "org.apache.kafka.common.security.scram.ScramLoginModule required;");
      p.put("listener.name.sasl_ssl.ssl.keystore.location", saslSsl.keystore().toString());
      p.put("listener.name.sasl_ssl.ssl.keystore.password", saslSsl.password());
      p.put("listener.name.sasl_ssl.ssl.key.password", saslSsl.password());
      p.put("listener.name.sasl_ssl.ssl.keystore.type", "PKCS12");
    }
    try (Writer w = Files.newBufferedWriter(config, StandardCharsets.UTF_8)) {
      p.store(w, "single-node KRaft broker written by " + KafkaBroker.class.getName());
    }
  }

  @Override
  public String toString() {
    return "KafkaBroker[" + bootstrapServers() + ", dir=" + dir + "]";
  }
}
