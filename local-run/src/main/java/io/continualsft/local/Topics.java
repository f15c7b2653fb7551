package io.continualsft.local;

import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.errors.TopicExistsException;

/** Creating topics and waiting until they can be used. */
public final class Topics {
  private Topics() {}

  /**
   * Creates each topic that does not exist yet, then waits until every partition of every one of
   * them has a leader. Producing right after creation, before that, can lose the first batch
   * without an error on a single-node cluster (KAFKA-15591), so nobody should skip the wait.
   */
  public static void createAndAwait(Admin admin, Collection<NewTopic> topics, Duration timeout) {
    try {
      for (NewTopic topic : topics) {
        try {
          admin.createTopics(List.of(topic)).all().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
          if (!(e.getCause() instanceof TopicExistsException)) {
            throw new IllegalStateException("could not create topic " + topic.name(), e.getCause());
          }
        }
      }
      Set<String> names = topics.stream().map(NewTopic::name).collect(Collectors.toSet());
      Instant deadline = Instant.now().plus(timeout);
      while (true) {
        try {
          Map<String, TopicDescription> described =
              admin.describeTopics(names).allTopicNames().get(5, TimeUnit.SECONDS);
          boolean allLed = described.values().stream()
              .flatMap(d -> d.partitions().stream())
              .allMatch(p -> p.leader() != null && !p.leader().isEmpty());
          if (allLed) {
            return;
          }
        } catch (ExecutionException | TimeoutException e) {
          // metadata not propagated yet
        }
        if (Instant.now().isAfter(deadline)) {
          throw new IllegalStateException(
              "topics " + names + " had no leader for every partition within " + timeout);
        }
        Thread.sleep(100);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while creating topics", e);
    } catch (TimeoutException e) {
      throw new IllegalStateException("creating topics timed out after " + timeout, e);
    }
  }

  public static NewTopic topic(String name, int partitions) {
    // Replication factor left to the cluster (default.replication.factor): 1 on the local broker.
    return new NewTopic(name, java.util.Optional.of(partitions), java.util.Optional.empty());
  }
}
