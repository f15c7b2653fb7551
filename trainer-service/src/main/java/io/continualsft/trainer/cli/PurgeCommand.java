package io.continualsft.trainer.cli;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.ErasureRequest;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.SftExample;
import io.continualsft.schemas.SftTopics;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.trainer.checkpoint.SkippingDeserializer;
import io.continualsft.trainer.erasure.ErasureFeed;
import io.continualsft.trainer.erasure.Erasures;
import io.continualsft.trainer.erasure.Purge;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Physical deletion: tombstones for every record of the erased conversations. */
@Command(name = "purge", mixinStandardHelpOptions = true,
    description = "Reads every erasure request, finds the records of the erased conversations"
        + " in the conversations, examples and dead-letter topics, and writes a tombstone for"
        + " each (its key, its partition) in one transaction, so that compaction removes them"
        + " (the topics need cleanup.policy=compact,delete; docs/erasure.md). Idempotent: run it"
        + " after forget, or on a schedule.")
final class PurgeCommand implements Callable<Integer> {
  @Mixin ClusterOptions cluster;

  @Option(names = "--erasure-topic", defaultValue = SftTopics.ERASURE_REQUESTS,
      description = "Default: ${DEFAULT-VALUE}.") String erasureTopic;

  @Option(names = "--conversations-topic", defaultValue = SftTopics.CONVERSATIONS,
      description = "Default: ${DEFAULT-VALUE}.") String conversationsTopic;

  @Option(names = "--examples-topic", defaultValue = SftTopics.EXAMPLES,
      description = "Default: ${DEFAULT-VALUE}.") String examplesTopic;

  @Option(names = "--feedback-topic", defaultValue = SftTopics.FEEDBACK,
      description = "Feedback (purged when it exists). Default: ${DEFAULT-VALUE}.")
  String feedbackTopic;

  @Option(names = "--preference-examples-topic", defaultValue = SftTopics.PREFERENCE_EXAMPLES,
      description = "Preference examples (purged when it exists). Default: ${DEFAULT-VALUE}.")
  String preferenceTopic;

  @Option(names = "--dead-letter-topics", split = ",",
      defaultValue = SftTopics.CONVERSATIONS_DLQ + "," + SftTopics.EXAMPLES_DLQ,
      description = "Default: ${DEFAULT-VALUE}.") List<String> deadLetterTopics;

  @Override
  public Integer call() {
    Map<String, String> client = cluster.client();
    Map<String, Object> consumerConfig = new java.util.LinkedHashMap<>(
        SchemaRegistryConfig.kafkaOnly(cluster.kafka(client)));
    consumerConfig.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrap);
    consumerConfig.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    consumerConfig.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    consumerConfig.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 16 * 1_048_576);
    Map<String, Object> producerConfig = new java.util.LinkedHashMap<>(
        SchemaRegistryConfig.kafkaOnly(cluster.kafka(client)));
    producerConfig.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrap);
    producerConfig.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "sft-purge-" + UUID.randomUUID());
    try (SchemaRegistryClient registry = new SchemaRegistryClient(cluster.registryConfig(client));
        ErasureFeed feed = ErasureFeed.of(new KafkaConsumer<>(consumerConfig,
            new StringDeserializer(), new SkippingDeserializer<>(
                AvroDeserializer.specific(ErasureRequest.class, registry))), erasureTopic,
            Duration.ofSeconds(60));
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerConfig,
            new ByteArrayDeserializer(), new ByteArrayDeserializer());
        KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerConfig,
            new ByteArraySerializer(), new ByteArraySerializer())) {
      Erasures erasures = Erasures.none();
      feed.readToEnd().forEach(erasures::add);
      if (erasures.isEmpty()) {
        System.out.printf("no erasure request on %s: nothing to purge%n", erasureTopic);
        return 0;
      }
      List<Purge.Target> targets = new ArrayList<>();
      targets.add(new Purge.Target(conversationsTopic, Purge.Kind.CONVERSATIONS));
      targets.add(new Purge.Target(examplesTopic, Purge.Kind.EXAMPLES));
      Map<String, ?> existing = consumer.listTopics(Duration.ofSeconds(60));
      if (existing.containsKey(preferenceTopic)) {
        targets.add(new Purge.Target(preferenceTopic, Purge.Kind.PREFERENCE_EXAMPLES));
      } else {
        System.out.printf("%s: no such topic (no feedback is joined here)%n", preferenceTopic);
      }
      if (existing.containsKey(feedbackTopic)) {
        targets.add(new Purge.Target(feedbackTopic, Purge.Kind.FEEDBACK));
      } else {
        System.out.printf("%s: no such topic (no feedback is joined here)%n", feedbackTopic);
      }
      deadLetterTopics.forEach(t -> targets.add(new Purge.Target(t, Purge.Kind.DEAD_LETTERS)));
      Purge purge = new Purge(AvroDeserializer.specific(Conversation.class, registry),
          AvroDeserializer.specific(SftExample.class, registry),
          AvroDeserializer.specific(Rejection.class, registry),
          AvroDeserializer.specific(io.continualsft.avro.Feedback.class, registry),
          AvroDeserializer.specific(io.continualsft.avro.PreferenceExample.class, registry),
          Duration.ofSeconds(600));
      producer.initTransactions();
      producer.beginTransaction();
      List<Purge.Result> results = new ArrayList<>();
      for (Purge.Target t : targets) {
        results.add(purge.run(consumer, producer, t, erasures));
      }
      producer.commitTransaction();
      int keyless = 0;
      for (Purge.Result r : results) {
        System.out.printf("%s: %d records read, %d tombstones written%s%n", r.topic(),
            r.scanned(), r.tombstones(), r.keyless() == 0 ? ""
                : ", " + r.keyless() + " matching records without a key (they go with the"
                    + " topic's retention)");
        keyless += r.keyless();
      }
      System.out.printf("purged for %d erasure requests; compaction removes the records"
          + " (cleanup.policy=compact,delete), readers skip them until then%n",
          erasures.count());
      return keyless == 0 ? 0 : 3;
    }
  }
}
