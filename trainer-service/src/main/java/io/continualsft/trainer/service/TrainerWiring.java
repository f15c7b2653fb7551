package io.continualsft.trainer.service;

import ai.djl.ndarray.NDManager;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.Conversation;
import io.continualsft.avro.SftExample;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.trainer.checkpoint.AdapterPartition;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.chat.labels.ExampleLabeler;
import io.continualsft.trainer.checkpoint.CheckpointFiles;
import io.continualsft.trainer.checkpoint.CheckpointPublisher;
import io.continualsft.trainer.checkpoint.StableRead;
import io.continualsft.trainer.checkpoint.CheckpointLocator;
import io.continualsft.trainer.checkpoint.CheckpointReader;
import io.continualsft.trainer.checkpoint.CheckpointSource;
import io.continualsft.trainer.checkpoint.InvalidCheckpointException;
import io.continualsft.trainer.checkpoint.SkippingDeserializer;
import io.continualsft.trainer.model.Engines;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.ModelIdentity;
import io.continualsft.trainer.release.ReleaseLog;
import io.continualsft.trainer.release.RetentionSet;
import io.continualsft.trainer.train.AdapterTraining;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.UnaryOperator;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/** Builds the production trainer from its settings: what {@code main} wires, in one place. */
final class TrainerWiring {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(TrainerWiring.class);

  private TrainerWiring() {}

  static TrainerService create(TrainerSettings settings,
      UnaryOperator<Producer<String, Object>> decorate) {
    Engines.configure();
    AdapterTraining training = AdapterTraining.open(settings,
        NDManager.newBaseManager(Engines.device(settings.model().device())));
    System.out.printf("trainer: %s%n", training.plan().describe());
    SchemaRegistryClient registry = null;
    try {
      ModelIdentity identity = ModelIdentity.of(settings.model().dir(),
          settings.model().baseModelName());
      TrainerSettings.Kafka kafka = settings.kafka();
      registry = new SchemaRegistryClient(kafka.registry());
      KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(examplesConsumer(kafka),
          new ByteArrayDeserializer(), new ByteArrayDeserializer());
      Producer<String, Object> producer = decorate.apply(CheckpointPublisher.producer(
          kafka.bootstrapServers(), kafka.clientProperties(), registry, kafka.transactionalId(),
          settings.checkpoints().chunkBytes()));
      SchemaRegistryClient checkpointRegistry = registry;
      PrometheusMeterRegistry meters = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      TrainerMetrics metrics = new TrainerMetrics(meters);
      // A checkpoint of another model or LoRA configuration throws: a configuration error,
      // never skipped. Malformed content is skipped for the one before it.
      java.util.function.Predicate<Checkpoint> usable = checkpoint -> {
        try {
          CheckpointFiles.decode(checkpoint, identity, settings.loraFor(checkpoint.adapter()));
          return true;
        } catch (InvalidCheckpointException e) {
          log.warn("skipping {}", e.getMessage());
          metrics.invalidCheckpoint();
          return false;
        }
      };
      java.util.function.Supplier<KafkaConsumer<String, CheckpointRecord>> checkpointReaders =
          () -> new KafkaConsumer<>(CheckpointReader.consumerConfig(kafka.bootstrapServers(),
              kafka.clientProperties()), new StringDeserializer(), new SkippingDeserializer<>(
                  AvroDeserializer.specific(CheckpointRecord.class, checkpointRegistry)));
      CheckpointSource anyTime = CheckpointLocator.source(checkpointReaders::get,
          kafka.checkpointTopic(), Duration.ofSeconds(60), usable);
      // Checkpoints are looked up once every transaction open at the time has ended: see
      // StableRead. Consumers of no group, kept for the service's life.
      KafkaConsumer<byte[], byte[]> committedEnds = new KafkaConsumer<>(
          replayConsumer(kafka), new ByteArrayDeserializer(), new ByteArrayDeserializer());
      Map<String, Object> uncommitted = replayConsumer(kafka);
      uncommitted.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
      KafkaConsumer<byte[], byte[]> allEnds = new KafkaConsumer<>(uncommitted,
          new ByteArrayDeserializer(), new ByteArrayDeserializer());
      KafkaConsumer<String, CheckpointRecord> ownReader = checkpointReaders.get();
      CheckpointSource checkpoints = new CheckpointSource() {
        @Override
        public Optional<Checkpoint> newest(String adapter, java.util.function.LongPredicate v) {
          StableRead.await(committedEnds, allEnds, AdapterPartition.of(committedEnds,
              kafka.checkpointTopic(), adapter), Duration.ofSeconds(180));
          return anyTime.newest(adapter, v);
        }

        /** An evicted adapter's checkpoint: this trainer knows which records hold it. */
        @Override
        public Optional<Checkpoint> written(String adapter, long version, Written where) {
          Optional<Checkpoint> c = CheckpointLocator.readWritten(ownReader, adapter, version,
              where, Duration.ofSeconds(180), usable);
          return c.isPresent() ? c : version(adapter, version);
        }

        /** An erasure's lineage of the adapters not in memory: the whole topic's manifests. */
        @Override
        public java.util.SortedMap<String, java.util.SortedMap<Long,
            io.continualsft.avro.CheckpointManifest>> allManifests() {
          try (KafkaConsumer<String, CheckpointRecord> c = checkpointReaders.get()) {
            return CheckpointLocator.allManifests(c, kafka.checkpointTopic(),
                Duration.ofSeconds(600));
          }
        }

        /** An erasure's lineage: every manifest of the adapter, read past the chunks. */
        @Override
        public java.util.SortedMap<Long, io.continualsft.avro.CheckpointManifest> manifests(
            String adapter) {
          StableRead.await(committedEnds, allEnds, AdapterPartition.of(committedEnds,
              kafka.checkpointTopic(), adapter), Duration.ofSeconds(180));
          try (KafkaConsumer<String, CheckpointRecord> c = checkpointReaders.get()) {
            return CheckpointLocator.manifests(c, kafka.checkpointTopic(), adapter,
                Integer.MAX_VALUE, Duration.ofSeconds(600));
          }
        }
      };
      metrics.bind(consumer, producer);
      List<Batch.Example> retention = retentionSet(settings, registry);
      ReleaseLog releases = new ReleaseLog(ReleaseLog.consumer(kafka.bootstrapServers(),
          kafka.clientProperties(), registry), kafka.releasesTopic(), Duration.ofSeconds(60),
          null);
      ExampleLog replay = settings.replay().fraction() == 0 ? null : new ExampleLog(
          new KafkaConsumer<>(replayConsumer(kafka), new ByteArrayDeserializer(),
              new ByteArrayDeserializer()), Duration.ofSeconds(60));
      io.continualsft.trainer.erasure.ErasureFeed erasureRequests =
          settings.erasure().topic().isBlank() ? io.continualsft.trainer.erasure.ErasureFeed.none()
          : io.continualsft.trainer.erasure.ErasureFeed.of(new KafkaConsumer<>(
              replayConsumer(kafka), new StringDeserializer(), new SkippingDeserializer<>(
                  AvroDeserializer.specific(io.continualsft.avro.ErasureRequest.class,
                      registry))), settings.erasure().topic(), Duration.ofSeconds(60));
      TrainerService service = new TrainerService(settings,
          new TrainerService.Clients(consumer, producer,
              inputRecords(settings.objectives().preferenceTopic(), registry), checkpoints,
              releases, replay, erasureRequests),
          training, identity, metrics, Clock.systemUTC(), retention);
      service.closeWith(releases);
      service.closeWith(erasureRequests);
      if (replay != null) {
        service.closeWith(replay);
      }
      service.closeWith(registry);
      service.closeWith(committedEnds);
      service.closeWith(allEnds);
      service.closeWith(ownReader);
      TrainerSettings.Observability o = settings.observability();
      if (o.metricsPort() > 0) {
        service.serveMetrics(o.metricsHost(), o.metricsPort(), meters);
      }
      return service;
    } catch (RuntimeException e) {
      if (registry != null) {
        registry.close();
      }
      training.close();
      throw e;
    }
  }

  /**
   * The retention set, labelled by the configured rules ({@code labels.*}, as the streams app
   * labels), or empty without one.
   */
  private static List<Batch.Example> retentionSet(TrainerSettings settings,
      SchemaRegistryClient registry) {
    TrainerSettings.Retention r = settings.retention();
    if (r.file().isEmpty() && r.topic().isBlank()) {
      return List.of();
    }
    int maxLength = settings.steps().maxLength();
    // What is erased already is left out (a request that arrives later: at the next start).
    io.continualsft.trainer.erasure.Erasures erasures =
        io.continualsft.trainer.erasure.Erasures.none();
    if (!settings.erasure().topic().isBlank()) {
      try (io.continualsft.trainer.erasure.ErasureFeed feed =
          io.continualsft.trainer.erasure.ErasureFeed.of(new KafkaConsumer<>(
              replayConsumer(settings.kafka()), new StringDeserializer(),
              new SkippingDeserializer<>(AvroDeserializer.specific(
                  io.continualsft.avro.ErasureRequest.class, registry))),
              settings.erasure().topic(), Duration.ofSeconds(60))) {
        feed.readToEnd().forEach(erasures::add);
      }
    }
    java.util.function.Predicate<Conversation> erased =
        c -> erasures.erases(c.getId(), c.getSubject());
    try (ExampleLabeler labeler = ExampleLabeler.open(settings.model().dir(),
        settings.labels().templateName(), settings.labels().rules(), Clock.systemUTC())) {
      if (r.file().isPresent()) {
        List<Batch.Example> examples = RetentionSet.fromFile(r.file().get(), labeler, maxLength,
            r.maxExamples(), TrainerConfig.RETENTION_FILE.key(),
            TrainerConfig.RETENTION_MAX_EXAMPLES.key(), erased);
        System.out.printf("retention set: %d conversations from %s%n", examples.size(),
            r.file().get());
        return examples;
      }
      try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(
          replayConsumer(settings.kafka()), new ByteArrayDeserializer(),
          new ByteArrayDeserializer())) {
        RetentionSet.Labelled labelled = RetentionSet.fromTopic(c, r.topic(),
            AvroDeserializer.specific(Conversation.class, registry), labeler, maxLength,
            r.maxExamples(), Duration.ofSeconds(120), erased);
        System.out.printf("retention set: %d conversations from topic %s (%d refused)%n",
            labelled.examples().size(), r.topic(), labelled.refused().size());
        return labelled.examples();
      }
    }
  }

  /**
   * Decodes a record of either input topic: a PreferenceExample from the preference examples
   * topic (KTO adapters), an SftExample from any other.
   */
  static org.apache.kafka.common.serialization.Deserializer<Object> inputRecords(
      String preferenceTopic, io.continualsft.schemas.registry.SchemaResolver registry) {
    AvroDeserializer<SftExample> examples = AvroDeserializer.specific(SftExample.class, registry);
    AvroDeserializer<io.continualsft.avro.PreferenceExample> preferences =
        AvroDeserializer.specific(io.continualsft.avro.PreferenceExample.class, registry);
    return (topic, bytes) -> topic.equals(preferenceTopic)
        ? preferences.deserialize(topic, bytes) : examples.deserialize(topic, bytes);
  }

  /** A consumer of no group that reads committed records by offset. */
  private static Map<String, Object> replayConsumer(TrainerSettings.Kafka kafka) {
    Map<String, Object> c = SchemaRegistryConfig.kafkaOnly(kafka.clientProperties());
    c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 1);
    return c;
  }

  private static Map<String, Object> examplesConsumer(TrainerSettings.Kafka kafka) {
    Map<String, Object> c = new LinkedHashMap<>(kafka.clientProperties());
    c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    c.put(ConsumerConfig.GROUP_ID_CONFIG, kafka.groupId());
    c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 200);
    // Eager, sticky rebalancing. Cooperative rebalancing lets a trainer go on training through a
    // rebalance, and the transaction it then commits carries a generation the group has left:
    // the broker refuses it and the work since the last commit is redone (ManyTrainersIT saw
    // that at every join). Eager rebalancing revokes every partition before the trainer joins,
    // so it commits only with a current generation; sticky assignment gives it back the same
    // partitions, whose adapters it restores from the checkpoints it has just written.
    c.putIfAbsent(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
        org.apache.kafka.clients.consumer.StickyAssignor.class.getName());
    return c;
  }
}
