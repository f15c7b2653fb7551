package io.continualsft.trainer.service;

import ai.djl.ndarray.NDManager;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.SftExample;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.trainer.checkpoint.CheckpointFiles;
import io.continualsft.trainer.checkpoint.CheckpointLocator;
import io.continualsft.trainer.checkpoint.CheckpointReader;
import io.continualsft.trainer.checkpoint.CheckpointSource;
import io.continualsft.trainer.checkpoint.InvalidCheckpointException;
import io.continualsft.trainer.checkpoint.SkippingDeserializer;
import io.continualsft.trainer.cli.Engines;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.lora.LoraSettings;
import io.continualsft.trainer.model.ModelIdentity;
import io.continualsft.trainer.train.AdapterTraining;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.apache.avro.generic.GenericContainer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Builds the production trainer from its settings: what {@code main} wires, in one place. */
final class TrainerWiring {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(TrainerWiring.class);

  private TrainerWiring() {}

  static TrainerService create(TrainerSettings settings,
      UnaryOperator<Producer<String, Object>> decorate) {
    Engines.configure();
    AdapterTraining training = AdapterTraining.open(settings,
        NDManager.newBaseManager(Engines.device(settings.model().device())));
    SchemaRegistryClient registry = null;
    try {
      ModelIdentity identity = ModelIdentity.of(settings.model().dir(),
          settings.model().baseModelName());
      TrainerSettings.Kafka kafka = settings.kafka();
      registry = new SchemaRegistryClient(kafka.registry());
      KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(examplesConsumer(kafka),
          new ByteArrayDeserializer(), new ByteArrayDeserializer());
      Producer<String, Object> producer = decorate.apply(producer(settings, registry));
      SchemaRegistryClient checkpointRegistry = registry;
      PrometheusMeterRegistry meters = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      TrainerMetrics metrics = new TrainerMetrics(meters);
      LoraSettings lora = training.lora();
      CheckpointSource checkpoints = CheckpointLocator.source(() -> new KafkaConsumer<>(
              CheckpointReader.consumerConfig(kafka.bootstrapServers(), kafka.clientProperties()),
              new StringDeserializer(), new SkippingDeserializer<>(
                  AvroDeserializer.specific(CheckpointRecord.class, checkpointRegistry))),
          kafka.checkpointTopic(), Duration.ofSeconds(60), checkpoint -> {
            // A checkpoint of another model or LoRA configuration throws: a configuration
            // error, never skipped. Malformed content is skipped for the one before it.
            try {
              CheckpointFiles.decode(checkpoint, identity, lora);
              return true;
            } catch (InvalidCheckpointException e) {
              log.warn("skipping {}", e.getMessage());
              metrics.invalidCheckpoint();
              return false;
            }
          });
      metrics.bind(consumer, producer);
      TrainerService service = new TrainerService(settings,
          new TrainerService.Clients(consumer, producer,
              AvroDeserializer.specific(SftExample.class, registry), checkpoints),
          training, identity, metrics, Clock.systemUTC());
      service.closeWith(registry);
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

  private static Map<String, Object> examplesConsumer(TrainerSettings.Kafka kafka) {
    Map<String, Object> c = new LinkedHashMap<>(kafka.clientProperties());
    c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    c.put(ConsumerConfig.GROUP_ID_CONFIG, kafka.groupId());
    c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 200);
    return c;
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static KafkaProducer<String, Object> producer(TrainerSettings settings,
      SchemaRegistryClient registry) {
    TrainerSettings.Kafka kafka = settings.kafka();
    Map<String, Object> c = new LinkedHashMap<>(kafka.clientProperties());
    c.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    c.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, kafka.transactionalId());
    c.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    c.put(ProducerConfig.ACKS_CONFIG, "all");
    c.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG,
        Math.max(1_048_576, settings.checkpoints().chunkBytes() + 65_536));
    AvroSerializer<GenericContainer> values = new AvroSerializer(registry, false);
    return new KafkaProducer(c, new StringSerializer(), values);
  }
}
