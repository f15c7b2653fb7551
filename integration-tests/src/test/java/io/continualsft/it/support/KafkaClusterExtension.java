package io.continualsft.it.support;

import io.continualsft.local.KafkaBroker;
import java.nio.file.Path;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.kafka.KafkaContainer;

/**
 * Gives tests one real Kafka cluster per test JVM, chosen in this order:
 *
 * <ol>
 *   <li>an existing cluster named by {@code KAFKA_BOOTSTRAP_SERVERS};
 *   <li>a Testcontainers Kafka, where a Docker engine answers;
 *   <li>otherwise the embedded real broker ({@link KafkaBroker}, a child JVM).
 * </ol>
 *
 * A missing Docker engine is never a failure. The cluster is closed when the test plan ends.
 * Inject it as a {@link KafkaCluster} parameter.
 */
public final class KafkaClusterExtension implements ParameterResolver {
  private static final Logger log = LoggerFactory.getLogger(KafkaClusterExtension.class);
  /** Docker image for the Testcontainers route: the same Kafka release as the jars. */
  static final String KAFKA_IMAGE = "apache/kafka:4.4.0";

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    return parameter.getParameter().getType() == KafkaCluster.class;
  }

  @Override
  public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
    return context.getRoot()
        .getStore(ExtensionContext.Namespace.GLOBAL)
        .getOrComputeIfAbsent(KafkaCluster.class, k -> startCluster(), KafkaCluster.class);
  }

  private static KafkaCluster startCluster() {
    String external = System.getenv("KAFKA_BOOTSTRAP_SERVERS");
    if (external != null && !external.isBlank()) {
      log.info("tests use the existing Kafka cluster at {}", external);
      return new KafkaCluster(KafkaCluster.Kind.EXTERNAL, external, null, null);
    }
    if (dockerAvailable()) {
      KafkaContainer container = new KafkaContainer(KAFKA_IMAGE);
      container.start();
      log.info("tests use a Testcontainers Kafka ({}) at {}", KAFKA_IMAGE,
          container.getBootstrapServers());
      return new KafkaCluster(
          KafkaCluster.Kind.TESTCONTAINERS, container.getBootstrapServers(), null, container::stop);
    }
    Path dir = TestDirs.fresh("kafka");
    KafkaBroker broker = KafkaBroker.start(dir);
    log.info("tests use the embedded Kafka broker at {} (ready in {} ms, pid {})",
        broker.bootstrapServers(), broker.lastStartup().toMillis(), broker.pid());
    return new KafkaCluster(KafkaCluster.Kind.EMBEDDED, broker.bootstrapServers(), broker, broker);
  }

  private static boolean dockerAvailable() {
    try {
      return DockerClientFactory.instance().isDockerAvailable();
    } catch (RuntimeException | LinkageError e) {
      return false;
    }
  }
}
