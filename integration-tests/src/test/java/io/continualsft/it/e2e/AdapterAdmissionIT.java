package io.continualsft.it.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.RejectionReason;
import io.continualsft.avro.SftExample;
import io.continualsft.it.support.Clients;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.it.support.TestConfigs;
import io.continualsft.it.support.TestDirs;
import io.continualsft.it.trainer.TrainerFixtures;
import io.continualsft.it.trainer.TrainerServiceIT;
import io.continualsft.schemas.AdapterPartitions;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.streams.StreamsApp;
import io.continualsft.streams.config.StreamsAppConfig;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.service.ExampleAdmission;
import io.continualsft.trainer.service.TrainerService;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * Adapters as a managed set, on real services: 500 conversations under 500 adapter names reach a
 * deployment that allows two ({@code adapters.allowed} on the streams app and on an {@code
 * adapter.id=*} trainer). Exactly the two allowed adapters train; the 498 others are dead
 * letters (ADAPTER_NOT_ALLOWED) with their original bytes, so nothing is lost. Then records that
 * never passed the streams app are written straight to the examples topic (a 300,000-character
 * adapter name, {@code ../../x}, an adapter not allowed, a 1,000-character conversation id): the
 * trainer dead-letters each with its reason, keeps training, and commits past them, so no
 * restart meets them again.
 */
@RealServices
class AdapterAdmissionIT {
  private static final int CONVERSATIONS = 500;
  private static final String ALLOWED = "tenant-7,tenant-42";
  private static final int PARTITIONS = 2;

  @Test
  void onlyAllowedAdaptersTrainAndHostileExamplesAreDeadLettersNotExits(KafkaCluster kafka,
      SchemaRegistry registry) throws Exception {
    String s = UUID.randomUUID().toString().substring(0, 8);
    String conversations = "conversations-" + s;
    String examples = "examples-" + s;
    String streamsDlq = "conversations-dlq-" + s;
    String trainerDlq = "examples-dlq-" + s;
    String checkpoints = "checkpoints-" + s;
    kafka.createTopics(PARTITIONS, conversations, examples);
    kafka.createTopics(1, streamsDlq, trainerDlq, checkpoints);
    Path model = TrainerFixtures.tinyModel(Files.createDirectories(TestDirs.fresh("admission")
        .resolve("model")));

    // 500 conversations, conversation i under adapter tenant-i.
    List<Conversation> sent = new ArrayList<>();
    for (Conversation c : TrainerFixtures.conversations(CONVERSATIONS, "adm")) {
      int i = Integer.parseInt(c.getId().substring("adm-".length()));
      sent.add(Conversation.newBuilder(c).setAdapter("tenant-" + i).build());
    }
    Map<String, String> streamsConfig = TestConfigs.streamsApp(kafka, registry, "sft-adm-" + s,
        conversations, examples, streamsDlq, model, TestDirs.fresh("admission-state"));
    streamsConfig.put("adapters.allowed", ALLOWED);

    try (SchemaRegistryClient client = registry.client(true);
        StreamsApp app = StreamsApp.start(StreamsAppConfig.of(streamsConfig))) {
      try (var producer = new KafkaProducer<>(Map.<String, Object>of(
          ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
          ProducerConfig.ACKS_CONFIG, "all"), new StringSerializer(),
          new AvroSerializer<Conversation>(client, false))) {
        for (Conversation c : sent) {
          producer.send(new ProducerRecord<>(conversations, c.getId(), c));
        }
        producer.flush();
      }
      List<Rejection> refused = Clients.consume(kafka, streamsDlq, AvroDeserializer.specific(
          Rejection.class, client), CONVERSATIONS - 2, Duration.ofSeconds(120)).stream()
          .map(r -> r.value()).toList();
      List<SftExample> passed = Clients.consume(kafka, examples, AvroDeserializer.specific(
          SftExample.class, client), 2, Duration.ofSeconds(60)).stream().map(r -> r.value())
          .toList();
      assertThat(passed).extracting(SftExample::getAdapter)
          .containsExactlyInAnyOrder("tenant-7", "tenant-42");
      assertThat(refused).hasSize(CONVERSATIONS - 2);
      assertThat(refused).extracting(Rejection::getReason).containsOnly(
          RejectionReason.ADAPTER_NOT_ALLOWED);
      assertThat(refused).extracting(r -> r.getOriginalValue() != null).containsOnly(true);
      assertThat(refused.stream().map(r -> r.getSourceOffset() + "@" + r.getSourcePartition())
          .distinct().count()).as("one dead letter per refused conversation")
          .isEqualTo(CONVERSATIONS - 2);
      assertThat(refused.getFirst().getDetail()).matches(
          "adapter \"tenant-\\d+\" is not in adapters.allowed \\(tenant-7,tenant-42\\)");
    }

    // The second line: examples written straight to the topic, as a second producer, a
    // restored backup or a bug upstream would.
    List<SftExample> labelled = TrainerFixtures.examples(model,
        TrainerFixtures.conversations(24, "direct"), examples);
    List<SftExample> direct = new ArrayList<>();
    Map<String, RejectionReason> hostile = new LinkedHashMap<>();
    for (int i = 0; i < labelled.size(); i++) {
      SftExample.Builder e = SftExample.newBuilder(labelled.get(i))
          .setAdapter(i % 2 == 0 ? "tenant-7" : "tenant-42");
      switch (i) {
        case 3 -> e.setAdapter("x".repeat(300_000));
        case 8 -> e.setAdapter("../../x");
        case 13 -> e.setAdapter("mallory");
        case 18 -> e.setConversationId("c".repeat(1_000));
        default -> { }
      }
      SftExample example = e.build();
      switch (i) {
        case 3, 8, 18 -> hostile.put(example.getConversationId(), RejectionReason.INVALID_ID);
        case 13 -> hostile.put(example.getConversationId(),
            RejectionReason.ADAPTER_NOT_ALLOWED);
        default -> { }
      }
      direct.add(example);
    }
    try (SchemaRegistryClient client = registry.client(true)) {
      try (var producer = new KafkaProducer<>(Map.<String, Object>of(
          ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
          ProducerConfig.ACKS_CONFIG, "all"), new StringSerializer(),
          new AvroSerializer<SftExample>(client, false))) {
        for (SftExample e : direct) {
          producer.send(new ProducerRecord<>(examples, AdapterPartitions.partitionFor(
              e.getAdapter(), PARTITIONS), e.getConversationId(), e)).get();
        }
      }

      String group = "trainers-adm-" + s;
      TrainerSettings settings = TrainerFixtures.settings(kafka, registry.url(), model,
              examples, trainerDlq, checkpoints, TrainerSettings.EVERY_ADAPTER, group + "-t1")
          .set(TrainerConfig.GROUP_ID, group)
          .set(TrainerConfig.ADAPTERS_ALLOWED,
              io.continualsft.chat.labels.AllowedAdapters.parse(ALLOWED))
          .set(TrainerConfig.STEP_TOKENS, 40)
          .build();
      TrainerService service = TrainerService.create(settings);
      AtomicBoolean stop = new AtomicBoolean();
      CompletableFuture<Void> running = CompletableFuture.runAsync(() -> service.run(stop::get));
      try {
        Instant deadline = Instant.now().plusSeconds(240);
        while (!allCommitted(kafka, examples, group)) {
          assertThat(running).as("the trainer is still running").isNotDone();
          assertThat(Instant.now()).as("the group's offsets reach the end").isBefore(deadline);
          Thread.sleep(250);
        }
      } finally {
        stop.set(true);
        running.get();
        service.close();
      }

      List<Rejection> refused = Clients.consume(kafka, trainerDlq, AvroDeserializer.specific(
          Rejection.class, client), hostile.size(), Duration.ofSeconds(30)).stream()
          .map(r -> r.value()).toList();
      Map<RejectionReason, Long> byReason = refused.stream().collect(Collectors.groupingBy(
          Rejection::getReason, TreeMap::new, Collectors.counting()));
      assertThat(byReason).containsExactlyEntriesOf(new TreeMap<>(Map.of(
          RejectionReason.INVALID_ID, 3L, RejectionReason.ADAPTER_NOT_ALLOWED, 1L)));
      assertThat(refused).extracting(Rejection::getDetail).anySatisfy(d -> assertThat(d)
          .startsWith("the adapter name \"" + "x".repeat(64) + "...\" (300000 characters)"));
      assertThat(refused).extracting(Rejection::getDetail).contains(
          "adapter \"mallory\" is not in adapters.allowed (tenant-7,tenant-42)",
          "the conversation id has 1000 characters; at most 256 are allowed");

      // Exactly the allowed adapters trained, each of its trainable examples once: the one the
      // streams app passed and the direct ones that were not refused.
      Map<String, Long> trainable = new TreeMap<>();
      List<SftExample> everyExample = new ArrayList<>(direct);
      everyExample.addAll(TrainerFixtures.examples(model, sent.stream()
          .filter(c -> c.getAdapter().equals("tenant-7") || c.getAdapter().equals("tenant-42"))
          .toList(), examples).stream().map(e -> SftExample.newBuilder(e).build()).toList());
      for (SftExample e : everyExample) {
        if (!hostile.containsKey(e.getConversationId()) && !ExampleAdmission.heldOut(
            e.getConversationId(), TrainerFixtures.EVAL_FRACTION)) {
          trainable.merge(e.getAdapter(), 1L, Long::sum);
        }
      }
      assertThat(trainable.keySet()).containsExactly("tenant-42", "tenant-7");
      for (String adapter : trainable.keySet()) {
        Checkpoint last = TrainerServiceIT.newest(kafka, client, checkpoints, adapter)
            .orElseThrow(() -> new AssertionError("no checkpoint of " + adapter));
        assertThat(last.manifest().getExamplesTrained()
            + last.manifest().getMetrics().get("examples_in_skipped_steps").longValue())
            .as(adapter).isEqualTo(trainable.get(adapter));
      }
      for (String other : List.of("mallory", "tenant-0", "tenant-499")) {
        Optional<Checkpoint> none = TrainerServiceIT.newest(kafka, client, checkpoints, other);
        assertThat(none).as(other).isEmpty();
      }
    }
  }

  /** Whether the group's committed offsets are at the end of every partition of the topic. */
  private static boolean allCommitted(KafkaCluster kafka, String topic, String group)
      throws Exception {
    Map<TopicPartition, OffsetSpec> latest = new LinkedHashMap<>();
    for (int p = 0; p < PARTITIONS; p++) {
      latest.put(new TopicPartition(topic, p), OffsetSpec.latest());
    }
    Map<TopicPartition, Long> end = new LinkedHashMap<>();
    kafka.admin().listOffsets(latest).all().get().forEach((tp, o) -> end.put(tp, o.offset()));
    Map<TopicPartition, OffsetAndMetadata> committed = kafka.admin()
        .listConsumerGroupOffsets(group, new ListConsumerGroupOffsetsOptions().requireStable(true))
        .partitionsToOffsetAndMetadata().get();
    return end.entrySet().stream().allMatch(e -> committed.get(e.getKey()) != null
        && committed.get(e.getKey()).offset() == e.getValue());
  }
}
