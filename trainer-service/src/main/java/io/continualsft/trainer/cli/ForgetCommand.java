package io.continualsft.trainer.cli;

import io.continualsft.avro.ErasureRequest;
import io.continualsft.chat.labels.Identifiers;
import io.continualsft.chat.labels.RejectedException;
import io.continualsft.runtime.config.ClientConfigFile;
import io.continualsft.schemas.SftTopics;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.trainer.checkpoint.CheckpointPublisher;
import java.time.Instant;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** A request to forget a conversation or a data subject, written to the erasure topic. */
@Command(name = "forget", mixinStandardHelpOptions = true,
    description = "Asks every trainer to forget a conversation (--conversation) or everything of"
        + " a data subject (--subject): the request goes to the erasure topic; each trainer"
        + " skips the erased examples from then on and rewinds every adapter they reached to its"
        + " newest version without them, retraining forward (docs/erasure.md).")
final class ForgetCommand implements Callable<Integer> {
  @Mixin ClusterOptions cluster;

  @Option(names = "--conversation", paramLabel = "ID", description = "The conversation id.")
  String conversation;

  @Option(names = "--subject", paramLabel = "S", description = "The data subject (the opaque id"
      + " producers set on Conversation.subject).") String subject;

  @Option(names = "--reason", defaultValue = "", description = "Why (a GDPR Art. 17 request, a"
      + " CCPA deletion ...).") String reason;

  @Option(names = "--requested-by", defaultValue = "trainer-service forget",
      description = "Who asked: a ticket, an operator (default: ${DEFAULT-VALUE}).")
  String requestedBy;

  @Option(names = "--id", description = "The request's id (default: a random UUID).") String id;

  @Option(names = "--erasure-topic", defaultValue = SftTopics.ERASURE_REQUESTS,
      description = "The erasure requests topic (default: ${DEFAULT-VALUE}).") String topic;

  @Override
  public Integer call() {
    if ((conversation == null) == (subject == null)) {
      System.err.println("error: give exactly one of --conversation ID and --subject S");
      return 2;
    }
    try {
      if (conversation != null) {
        Identifiers.check(conversation, "default");
      } else {
        Identifiers.checkSubject(subject);
      }
    } catch (RejectedException e) {
      System.err.println("error: " + e.detail());
      return 2;
    }
    ErasureRequest request = ErasureRequest.newBuilder()
        .setId(id != null ? id : UUID.randomUUID().toString())
        .setConversationId(conversation).setSubject(subject)
        .setRequestedBy(requestedBy).setReason(reason)
        .setRequestedAt(Instant.now()).build();
    String key = conversation != null ? "conversation:" + conversation : "subject:" + subject;
    Map<String, String> client = cluster.client();
    // The first request registers the schema unless the client configuration says otherwise.
    if (!ClientConfigFile.read(cluster.clientConfig)
        .containsKey(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS)) {
      client.put(SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS, "true");
    }
    try (SchemaRegistryClient registry = new SchemaRegistryClient(cluster.registryConfig(client));
        KafkaProducer<String, Object> producer = CheckpointPublisher.producer(cluster.bootstrap,
            cluster.kafka(client), registry, "sft-forget-" + UUID.randomUUID(), 1024)) {
      producer.initTransactions();
      producer.beginTransaction();
      producer.send(new ProducerRecord<>(topic, key, request));
      producer.commitTransaction();
    } catch (org.apache.kafka.common.KafkaException e) {
      throw new IllegalStateException("writing the erasure request to " + topic + " failed: "
          + e.getMessage(), e);
    }
    System.out.printf("erasure request %s written to %s (%s); each trainer applies it within"
        + " erasure.batch-window and logs the versions it revokes%n", request.getId(), topic,
        key);
    return 0;
  }
}
