package io.continualsft.local;

import io.continualsft.schemas.SftTopics;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

/**
 * The pipeline's topics for one run: their default names, with a per-run suffix on a
 * cluster of the user's own so runs do not mix.
 */
record RunTopics(String suffix) {
  String conversations() {
    return SftTopics.CONVERSATIONS + suffix;
  }

  String examples() {
    return SftTopics.EXAMPLES + suffix;
  }

  String conversationsDlq() {
    return SftTopics.CONVERSATIONS_DLQ + suffix;
  }

  String examplesDlq() {
    return SftTopics.EXAMPLES_DLQ + suffix;
  }

  String checkpoints() {
    return SftTopics.ADAPTER_CHECKPOINTS + suffix;
  }

  String releases() {
    return SftTopics.ADAPTER_RELEASES + suffix;
  }

  String erasureRequests() {
    return SftTopics.ERASURE_REQUESTS + suffix;
  }

  List<SftTopics.Topic> all() {
    return SftTopics.all().stream().map(t -> t.withSuffix(suffix)).toList();
  }

  /** Creates the topics (one partition each) and registers each one's value schema. */
  void create(LocalServices services) {
    List<SftTopics.Topic> topics = all().stream()
        .sorted(java.util.Comparator.comparing(SftTopics.Topic::name)).toList();
    try (Admin admin = Admin.create(
        services.kafka(Map.of()))) {
      Topics.createAndAwait(admin, topics.stream().map(t -> t.compacted()
              ? Topics.topic(t.name(), 1).configs(Map.of("cleanup.policy", "compact"))
              : Topics.topic(t.name(), 1)).toList(),
          Duration.ofSeconds(60));
    }
    LocalRun.say("Topics: %s", String.join(", ", topics.stream().map(SftTopics.Topic::name)
        .toList()));
    try (SchemaRegistryClient client = new SchemaRegistryClient(
        services.registryConfig(true))) {
      for (SftTopics.Topic t : topics) {
        int id = client.register(t.name() + "-value", t.valueSchema());
        LocalRun.say("  registered %s-value (%s) as schema id %d", t.name(),
            t.valueSchema().getName(), id);
      }
    }
  }
}
