package io.continualsft.it.support;

import io.continualsft.local.KafkaBroker;
import io.continualsft.local.Topics;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

/** A real Kafka cluster handed to a test by {@link KafkaClusterExtension}. */
public final class KafkaCluster implements AutoCloseable {
  /** Where the cluster came from. */
  public enum Kind {
    EXTERNAL,
    TESTCONTAINERS,
    EMBEDDED
  }

  private final Kind kind;
  private final String bootstrapServers;
  private final KafkaBroker embedded;
  private final AutoCloseable owner;
  private final Admin admin;

  KafkaCluster(Kind kind, String bootstrapServers, KafkaBroker embedded, AutoCloseable owner) {
    this.kind = kind;
    this.bootstrapServers = bootstrapServers;
    this.embedded = embedded;
    this.owner = owner;
    this.admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers));
  }

  public Kind kind() {
    return kind;
  }

  public String bootstrapServers() {
    return bootstrapServers;
  }

  public Admin admin() {
    return admin;
  }

  /** The broker process when this JVM started it (the fault tests stop and restart it). */
  public Optional<KafkaBroker> embeddedBroker() {
    return Optional.ofNullable(embedded);
  }

  /**
   * A topic name no other test uses (tests may share an external cluster), created with {@code
   * partitions} partitions and ready to produce to.
   */
  public String newTopic(String prefix, int partitions) {
    String name = prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    createTopics(partitions, name);
    return name;
  }

  public void createTopics(int partitions, String... names) {
    Topics.createAndAwait(
        admin,
        Arrays.stream(names).map(n -> Topics.topic(n, partitions)).toList(),
        Duration.ofSeconds(60));
  }

  /** A topic of one partition with cleanup.policy=compact, unless it exists already. */
  public void createCompactedTopicIfAbsent(String name) {
    try {
      if (admin.listTopics().names().get(30, java.util.concurrent.TimeUnit.SECONDS)
          .contains(name)) {
        return;
      }
    } catch (Exception e) {
      throw new IllegalStateException("listing topics failed", e);
    }
    Topics.createAndAwait(admin, List.of(Topics.topic(name, 1)
        .configs(java.util.Map.of("cleanup.policy", "compact"))), Duration.ofSeconds(60));
  }

  @Override
  public void close() {
    admin.close(Duration.ofSeconds(5));
    if (owner != null) {
      try {
        owner.close();
      } catch (Exception e) {
        throw new IllegalStateException("could not stop " + this, e);
      }
    }
  }

  @Override
  public String toString() {
    return kind + " Kafka at " + bootstrapServers;
  }
}
