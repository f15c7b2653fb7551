package io.continualsft.trainer.service;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.continualsft.avro.CheckpointManifest;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.PartitionOffset;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.RejectionReason;
import io.continualsft.avro.SftExample;
import io.continualsft.schemas.Fingerprints;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.schemas.serde.BadRecordException;
import io.continualsft.runtime.metrics.MetricsServer;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointCodec;
import io.continualsft.trainer.checkpoint.CheckpointLocator;
import io.continualsft.trainer.checkpoint.Directories;
import io.continualsft.trainer.cli.Engines;
import io.continualsft.trainer.lora.LoraSettings;
import io.continualsft.trainer.lora.PeftAdapter;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.LlamaModel;
import io.continualsft.trainer.model.ModelLoader;
import io.continualsft.trainer.safetensors.Safetensors;
import io.continualsft.trainer.train.AdamW;
import io.continualsft.trainer.train.LoraTrainer;
import io.continualsft.trainer.train.TokenBudgetBatcher;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The continual trainer: consume examples, take LoRA steps, publish checkpoints, exactly once.
 *
 * <p>A step's examples are the next examples of the stream (in offset order) until their trained
 * tokens reach {@code step.tokens} (or their number {@code step.examples}, when set), or all that
 * is there when the trainer has caught up with the end of the topic. Micro-batches are a pure function of those examples. Checkpoints are cut only
 * between steps, so the offsets they record are exact: everything before them is trained (or
 * dead-lettered, skipped, held out) and nothing after. The checkpoint's records, the dead letters
 * since the last one and the consumer offsets commit in one transaction. A restarted trainer
 * restores adapter, optimizer moments and step from the newest checkpoint and seeks to its
 * offsets, so it repeats an uninterrupted run bit for bit.
 */
public final class TrainerService implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(TrainerService.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final TrainerConfig config;
  private final String adapter;
  private final NDManager params;
  private final LlamaModel model;
  private final LoraTrainer trainer;
  private final TokenBudgetBatcher batcher;
  private final SchemaRegistryClient registry;
  private final KafkaConsumer<byte[], byte[]> consumer;
  private final KafkaProducer<String, Object> producer;
  private final AvroDeserializer<SftExample> exampleReader;
  private final String tokenizerFingerprint;
  private final String baseFingerprint;
  private final int vocabSize;
  private final int stepTokens;
  private final int stepExamples;
  private volatile java.util.function.Consumer<Published> onPublished = published -> { };
  private final int maxLength;
  private final PrometheusMeterRegistry meters;
  private final MetricsServer metricsServer;
  private final List<KafkaClientMetrics> clientMetrics = new ArrayList<>();

  // Training state, all of it in every checkpoint.
  private long version;
  private long examplesTrained;
  private long tokensTrained;
  private long skippedSteps;
  private long retriedSteps;
  private long examplesInSkippedSteps;
  private double lastLoss = Double.NaN;
  private double lastGradNorm = Double.NaN;
  private double lastLr;
  private final Deque<Batch.Example> evalSet = new ArrayDeque<>();

  // Since the last checkpoint.
  private final List<Batch.Example> window = new ArrayList<>();
  private long windowTokens;
  private final Map<TopicPartition, Long> positions = new LinkedHashMap<>();
  private Map<TopicPartition, Long> boundary = new LinkedHashMap<>();
  private final List<ProducerRecord<String, Object>> pendingDeadLetters = new ArrayList<>();
  private boolean dirty;
  private long stepsSinceCheckpoint;
  private Instant lastCheckpoint = Instant.now();
  private double lastEvalLoss = Double.NaN;
  private long tokensSinceProgress;
  private Instant progressSince = Instant.now();

  private final Counter trainedTokensCounter;
  private final Counter examplesCounter;
  private final Counter skippedStepsCounter;
  private final Counter retriedStepsCounter;
  private final Timer stepTimer;
  private final Timer publishTimer;
  private final DistributionSummary publishBytes;
  private final AtomicReference<Double> lossGauge = new AtomicReference<>(Double.NaN);
  private final AtomicReference<Double> evalGauge = new AtomicReference<>(Double.NaN);
  private final AtomicReference<Double> normGauge = new AtomicReference<>(Double.NaN);
  private final AtomicReference<Double> lrGauge = new AtomicReference<>(0.0);
  private final AtomicReference<Double> utilGauge = new AtomicReference<>(Double.NaN);
  private final AtomicReference<Double> tpsGauge = new AtomicReference<>(0.0);
  private final AtomicReference<Double> lagGauge = new AtomicReference<>(0.0);
  private final Map<String, Counter> skipped = new LinkedHashMap<>();
  private volatile String state = "STARTING";

  public TrainerService(TrainerConfig config) {
    Engines.configure();
    this.config = config;
    this.adapter = config.adapter();
    Path dir = config.modelDir();
    this.params = NDManager.newBaseManager(Engines.device(config.get("device")));
    this.model = ModelLoader.load(dir, params.newSubManager());
    LoraSettings lora = config.lora();
    model.addLora(lora, config.getInt("seed"));
    this.vocabSize = model.config().vocabSize();
    this.stepTokens = config.getInt("step.tokens");
    this.stepExamples = config.getInt("step.examples");
    this.maxLength = config.getInt("train.max-length");
    this.tokenizerFingerprint = Fingerprints.sha256(dir.resolve("tokenizer.json"));
    this.baseFingerprint = baseFingerprint(dir);
    double[] betas = config.betas();
    AdamW adamW = new AdamW(params.newSubManager(), betas[0], betas[1],
        config.getDouble("optimizer.eps"), config.getDouble("optimizer.weight-decay"));
    List<Long> inject = config.nonFiniteSteps();
    this.trainer = new LoraTrainer(model, params, adamW, config.schedule(),
        config.getDouble("grad.clip-norm"), config.getInt("seed"),
        inject.isEmpty() ? null : (step, grads) -> {
          if (inject.contains(step)) {
            grads.values().forEach(g -> g.muli(Float.NaN));
          }
        });
    this.batcher = new TokenBudgetBatcher(config.getInt("batch.token-budget"), maxLength,
        config.pack(), 0);

    this.registry = new SchemaRegistryClient(config.registryConfig());
    this.exampleReader = AvroDeserializer.specific(SftExample.class, registry);
    Map<String, Object> consumerConfig = new LinkedHashMap<>(config.kafkaOverrides());
    consumerConfig.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.get("bootstrap.servers"));
    consumerConfig.put(ConsumerConfig.GROUP_ID_CONFIG, config.groupId());
    consumerConfig.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    consumerConfig.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    consumerConfig.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    consumerConfig.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 200);
    this.consumer = new KafkaConsumer<>(consumerConfig, new ByteArrayDeserializer(),
        new ByteArrayDeserializer());
    Map<String, Object> producerConfig = new LinkedHashMap<>(config.kafkaOverrides());
    producerConfig.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.get("bootstrap.servers"));
    producerConfig.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, config.transactionalId());
    producerConfig.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    producerConfig.put(ProducerConfig.ACKS_CONFIG, "all");
    producerConfig.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG,
        Math.max(1_048_576, config.getInt("checkpoint.chunk-bytes") + 65_536));
    @SuppressWarnings({"unchecked", "rawtypes"})
    AvroSerializer<org.apache.avro.generic.GenericContainer> values =
        new AvroSerializer(registry, false);
    @SuppressWarnings({"unchecked", "rawtypes"})
    KafkaProducer<String, Object> p = new KafkaProducer(producerConfig, new StringSerializer(), values);
    this.producer = p;

    this.meters = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    new JvmMemoryMetrics().bindTo(meters);
    clientMetrics.add(new KafkaClientMetrics(consumer));
    clientMetrics.add(new KafkaClientMetrics(producer));
    clientMetrics.forEach(m -> m.bindTo(meters));
    trainedTokensCounter = Counter.builder("sft.trainer.tokens.trained").register(meters);
    examplesCounter = Counter.builder("sft.trainer.examples.trained").register(meters);
    retriedStepsCounter = Counter.builder("sft.trainer.steps.retried")
        .description("Steps computed a second time because the first result was not finite")
        .register(meters);
    skippedStepsCounter = Counter.builder("sft.trainer.steps.skipped")
        .description("Steps skipped because the loss or gradient norm was not finite").register(meters);
    stepTimer = Timer.builder("sft.trainer.step").register(meters);
    publishTimer = Timer.builder("sft.trainer.checkpoint.publish").register(meters);
    publishBytes = DistributionSummary.builder("sft.trainer.checkpoint.bytes").baseUnit("bytes")
        .register(meters);
    meters.gauge("sft.trainer.loss", lossGauge, AtomicReference::get);
    meters.gauge("sft.trainer.eval.loss", evalGauge, AtomicReference::get);
    meters.gauge("sft.trainer.grad.norm", normGauge, AtomicReference::get);
    meters.gauge("sft.trainer.learning.rate", lrGauge, AtomicReference::get);
    meters.gauge("sft.trainer.token.utilisation", utilGauge, AtomicReference::get);
    meters.gauge("sft.trainer.tokens.per.second", tpsGauge, AtomicReference::get);
    // Records between the trainer's position and the end of its input, refreshed at every
    // progress line and when caught up: unlike the Kafka client's windowed records-lag metrics,
    // it holds its value while the trainer is busy in a long step.
    meters.gauge("sft.trainer.consumer.lag", lagGauge, AtomicReference::get);
    for (RejectionReason reason : RejectionReason.values()) { // at 0, so rate() works from the start
      deadLetterCounter(reason);
    }
    for (String reason : List.of("OTHER_ADAPTER", "HELD_OUT")) {
      skipped.put(reason, Counter.builder("sft.trainer.examples.skipped").tag("reason", reason)
          .register(meters));
    }
    int port = config.getInt("metrics.port");
    this.metricsServer = port > 0 ? MetricsServer.start(config.get("metrics.host"), port, meters,
        () -> new MetricsServer.Health(!state.equals("FAILED"), state)) : null;
  }

  /** What a committed checkpoint recorded: for a caller that watches the service run. */
  public record Published(long version, long step, long examplesTrained,
      long examplesInSkippedSteps, long tokensTrained, double evalLoss,
      Map<TopicPartition, Long> offsets) {}

  /** Called on the training thread after each checkpoint's transaction commits; keep it short. */
  public void onPublished(java.util.function.Consumer<Published> listener) {
    this.onPublished = listener;
  }

  public PrometheusMeterRegistry meters() {
    return meters;
  }

  public int metricsPort() {
    return metricsServer == null ? -1 : metricsServer.port();
  }

  /** Runs until {@code stop} says so; then publishes what has been trained since the last checkpoint. */
  public void run(BooleanSupplier stop) {
    // libtorch records graphs on any thread that has not switched grad mode off; only the
    // trainer's GradientCollector should.
    ai.djl.pytorch.jni.JniUtils.setGradMode(false);
    initTransactions(stop); // fences any earlier trainer with the same transactional id
    List<TopicPartition> partitions = consumer.partitionsFor(config.get("topic.examples")).stream()
        .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
    consumer.assign(partitions);
    restore(partitions);
    boundary = new LinkedHashMap<>(positions);
    state = "RUNNING";
    try {
      while (!stop.getAsBoolean()) {
        ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
        for (ConsumerRecord<byte[], byte[]> r : records) {
          positions.put(new TopicPartition(r.topic(), r.partition()), r.offset() + 1);
          accept(r);
          if (windowTokens >= stepTokens || (stepExamples > 0 && window.size() >= stepExamples)) {
            step();
          }
        }
        if (records.isEmpty() && caughtUp(partitions)) {
          lagGauge.set(0.0);
          if (!window.isEmpty()) {
            step(); // the end of what is there: train it rather than wait
          }
          // Past the transaction markers too, so the committed offsets reach the end of the
          // partition and the group's lag reads 0 rather than 1 when all is trained.
          for (TopicPartition tp : partitions) {
            positions.put(tp, consumer.position(tp));
          }
          if (window.isEmpty() && (dirty || !positions.equals(boundary))) {
            boundary = new LinkedHashMap<>(positions);
            checkpoint();
          }
        }
      }
      if (window.isEmpty() && (dirty || !positions.equals(boundary))) {
        boundary = new LinkedHashMap<>(positions);
      }
      if (dirty) {
        checkpoint(); // clean shutdown: publish the last boundary
      }
      state = "STOPPED";
    } catch (RuntimeException e) {
      state = "FAILED";
      throw e;
    }
  }

  /**
   * Registers the transactional id, waiting out a broker that is down or restarting: the
   * producer allows initTransactions to be retried after a timeout.
   */
  private void initTransactions(BooleanSupplier stop) {
    for (int attempt = 1; ; attempt++) {
      try {
        producer.initTransactions();
        return;
      } catch (org.apache.kafka.common.errors.TimeoutException e) {
        if (stop.getAsBoolean()) {
          throw e;
        }
        log.warn("no transaction coordinator yet for {} (attempt {}: {}); is the broker at {}"
            + " reachable? retrying", config.transactionalId(), attempt, e.getMessage(),
            config.get("bootstrap.servers"));
      }
    }
  }

  private boolean caughtUp(List<TopicPartition> partitions) {
    Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
    for (TopicPartition tp : partitions) {
      if (consumer.position(tp) < end.get(tp)) {
        return false;
      }
    }
    return true;
  }

  private void accept(ConsumerRecord<byte[], byte[]> r) {
    SftExample example;
    try {
      example = exampleReader.deserialize(r.topic(), r.value());
    } catch (BadRecordException e) {
      deadLetter(r, e.reason(), e.getMessage());
      return;
    }
    if (example == null) {
      deadLetter(r, RejectionReason.CORRUPT_AVRO, "the record has no value (a tombstone)");
      return;
    }
    if (!example.getAdapter().equals(adapter)) {
      skipped.get("OTHER_ADAPTER").increment();
      dirty = true;
      return;
    }
    Optional<String> problem = check(example);
    if (problem.isPresent()) {
      String[] parts = problem.get().split(":", 2);
      deadLetter(r, RejectionReason.valueOf(parts[0]), parts[1].strip());
      return;
    }
    Batch.Example e = Batch.Example.of(example.getInputIds(), example.getLabels());
    if (heldOut(example.getConversationId())) {
      skipped.get("HELD_OUT").increment();
      evalSet.addLast(e);
      while (evalSet.size() > config.getInt("eval.max-examples")) {
        evalSet.removeFirst();
      }
      dirty = true;
      return;
    }
    window.add(e);
    windowTokens += example.getTrainedTokens();
  }

  /** "REASON: detail" when the example cannot be trained by this model. */
  private Optional<String> check(SftExample e) {
    if (!e.getTokenizerFingerprint().equals(tokenizerFingerprint)) {
      return Optional.of("TOKENIZER_MISMATCH: made with tokenizer " + e.getTokenizerFingerprint()
          + ", this trainer's is " + tokenizerFingerprint);
    }
    if (e.getInputIds().size() != e.getLabels().size() || e.getInputIds().isEmpty()) {
      return Optional.of("LABELS_MISALIGNED: " + e.getInputIds().size() + " ids, "
          + e.getLabels().size() + " labels");
    }
    if (e.getInputIds().size() > maxLength) {
      return Optional.of("TOO_MANY_TOKENS: " + e.getInputIds().size() + " tokens; train.max-length is "
          + maxLength);
    }
    int trained = 0;
    for (int i = 0; i < e.getInputIds().size(); i++) {
      int id = e.getInputIds().get(i);
      int label = e.getLabels().get(i);
      if (id < 0 || id >= vocabSize) {
        return Optional.of("TOKEN_ID_OUT_OF_RANGE: id " + id + " at " + i + "; vocabulary " + vocabSize);
      }
      if (label != -100) {
        if (label != id) {
          return Optional.of("LABELS_MISALIGNED: label " + label + " at " + i + " is neither -100 nor the id");
        }
        trained++;
      }
    }
    if (trained == 0 || trained != e.getTrainedTokens()) {
      return Optional.of("NO_TRAINED_TOKENS: " + trained + " labels are trained, the example says "
          + e.getTrainedTokens());
    }
    return Optional.empty();
  }

  private boolean heldOut(String conversationId) {
    return heldOut(conversationId, config.getDouble("eval.fraction"));
  }

  /** Whether a conversation is in the held-out eval slice: by a hash of its id, so stable. */
  public static boolean heldOut(String conversationId, double fraction) {
    if (fraction <= 0) {
      return false;
    }
    byte[] hash = CheckpointCodec.sha256(conversationId.getBytes(StandardCharsets.UTF_8))
        .substring(0, 8).getBytes(StandardCharsets.US_ASCII);
    long bucket = Long.parseLong(new String(hash, StandardCharsets.US_ASCII), 16) % 10_000;
    return bucket < fraction * 10_000;
  }

  private Counter deadLetterCounter(RejectionReason reason) {
    return Counter.builder("sft.trainer.dead.letters").tag("reason", reason.name())
        .description("Examples sent to the dead-letter topic, by reason").register(meters);
  }

  private void deadLetter(ConsumerRecord<byte[], byte[]> r, RejectionReason reason, String detail) {
    deadLetterCounter(reason).increment();
    Rejection rejection = Rejection.newBuilder()
        .setReason(reason)
        .setDetail(detail)
        .setRejectedBy(config.transactionalId())
        .setOriginalKey(r.key() == null ? null : ByteBuffer.wrap(r.key()))
        .setOriginalValue(r.value() == null ? null : ByteBuffer.wrap(r.value()))
        .setSourceTopic(r.topic())
        .setSourcePartition(r.partition())
        .setSourceOffset(r.offset())
        .setCreatedAt(Instant.ofEpochMilli(System.currentTimeMillis()))
        .build();
    pendingDeadLetters.add(new ProducerRecord<>(config.get("topic.dead-letters"),
        r.key() == null ? null : new String(r.key(), StandardCharsets.UTF_8), rejection));
    dirty = true;
  }

  private void step() {
    long started = System.nanoTime();
    TokenBudgetBatcher.Plan plan = batcher.plan(window);
    LoraTrainer.StepResult result = trainer.train(plan);
    stepTimer.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
    if (result.attempts() > 1) {
      retriedSteps++;
      retriedStepsCounter.increment();
      LoraTrainer.StepResult first = result.firstAttempt();
      log.warn("step {} computed twice: the first computation had loss {} gradient norm {}"
          + " (non-finite gradients in {}); the second {}", result.step(), first.loss(),
          first.gradNorm(), first.nonFiniteGradients(),
          result.applied() ? "was finite and was applied" : "was not finite either");
    }
    if (result.applied()) {
      examplesTrained += window.size();
      tokensTrained += result.trainedTokens();
      examplesCounter.increment(window.size());
      trainedTokensCounter.increment(result.trainedTokens());
      lastLoss = result.loss();
      lastGradNorm = result.gradNorm();
    } else {
      skippedSteps++;
      examplesInSkippedSteps += window.size();
      skippedStepsCounter.increment();
      log.warn("step {} skipped: loss {} gradient norm {} (not finite; non-finite gradients in {})",
          result.step(), result.loss(), result.gradNorm(), result.nonFiniteGradients());
    }
    lastLr = result.learningRate();
    lossGauge.set(lastLoss);
    normGauge.set(lastGradNorm);
    lrGauge.set(lastLr);
    utilGauge.set(result.utilisation());
    window.clear();
    windowTokens = 0;
    boundary = new LinkedHashMap<>(positions);
    dirty = true;
    stepsSinceCheckpoint++;
    tokensSinceProgress += result.trainedTokens();
    if (result.step() % config.getInt("progress.every-steps") == 0) {
      progress(result);
    }
    if (stepsSinceCheckpoint >= config.getInt("checkpoint.every-steps")
        || Duration.between(lastCheckpoint, Instant.now()).toSeconds()
            >= config.getInt("checkpoint.every-seconds")) {
      checkpoint();
    }
  }

  private void progress(LoraTrainer.StepResult result) {
    double seconds = Duration.between(progressSince, Instant.now()).toMillis() / 1000.0;
    double tps = seconds > 0 ? tokensSinceProgress / seconds : 0;
    tpsGauge.set(tps);
    long lag = 0;
    Map<TopicPartition, Long> end = consumer.endOffsets(consumer.assignment());
    for (TopicPartition tp : consumer.assignment()) {
      lag += Math.max(0, end.get(tp) - consumer.position(tp));
    }
    lagGauge.set((double) lag);
    System.out.printf("step %d | examples %d | %.0f tokens/s | loss %.4f | grad norm %.4f | lr %.2e"
        + " | lag %d%n", result.step(), examplesTrained, tps, result.loss(), result.gradNorm(),
        result.learningRate(), lag);
    log.debug("step {}: loss {} grad norm {} (full precision)", result.step(), result.loss(),
        result.gradNorm());
    tokensSinceProgress = 0;
    progressSince = Instant.now();
  }

  // --- checkpoints ---------------------------------------------------------------------------

  private void checkpoint() {
    long started = System.nanoTime();
    Map<String, NDArray> lora = model.loraParameters();
    for (Map.Entry<String, NDArray> p : lora.entrySet()) {
      for (float v : p.getValue().toFloatArray()) {
        if (!Float.isFinite(v)) {
          state = "FAILED";
          throw new IllegalStateException("the adapter has a non-finite value in " + p.getKey()
              + "; refusing to publish it");
        }
      }
    }
    lastEvalLoss = evalSet.isEmpty() ? Double.NaN
        : trainer.evalLoss(List.copyOf(evalSet), batcher);
    evalGauge.set(lastEvalLoss);
    version++;
    Map<String, byte[]> files = files(lora);
    CheckpointManifest.Builder manifest = CheckpointManifest.newBuilder()
        .setStep(trainer.step())
        .setExamplesTrained(examplesTrained)
        .setTokensTrained(tokensTrained)
        .setSourceOffsets(boundary.entrySet().stream()
            .map(e -> new PartitionOffset(e.getKey().topic(), e.getKey().partition(), e.getValue()))
            .toList())
        .setBaseModel(baseModelName())
        .setBaseModelFingerprint(baseFingerprint)
        .setTokenizerFingerprint(tokenizerFingerprint)
        .setLora(io.continualsft.avro.LoraConfig.newBuilder()
            .setR(model.lora().r()).setAlpha(model.lora().alpha())
            .setDropout(model.lora().dropout()).setTargetModules(model.lora().targetModules())
            .setUseRslora(model.lora().useRslora()).build())
        .setMetrics(metrics())
        .setCreatedAt(Instant.ofEpochMilli(System.currentTimeMillis()));
    List<CheckpointRecord> records = CheckpointCodec.encode(adapter, version, files, manifest,
        config.getInt("checkpoint.chunk-bytes"));
    String topic = config.get("topic.checkpoints");
    int partition = CheckpointLocator.partitionFor(adapter, producer.partitionsFor(topic).size());
    producer.beginTransaction();
    for (ProducerRecord<String, Object> dl : pendingDeadLetters) {
      producer.send(dl);
    }
    for (CheckpointRecord r : records) {
      producer.send(new ProducerRecord<>(topic, partition, adapter, r));
    }
    Map<TopicPartition, OffsetAndMetadata> offsets = new LinkedHashMap<>();
    boundary.forEach((tp, offset) -> offsets.put(tp, new OffsetAndMetadata(offset)));
    producer.sendOffsetsToTransaction(offsets, new ConsumerGroupMetadata(config.groupId()));
    producer.commitTransaction();
    long bytes = files.values().stream().mapToLong(b -> b.length).sum();
    publishBytes.record(bytes);
    publishTimer.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
    System.out.printf("checkpoint v%d | step %d | examples %d | tokens %d | eval loss %.4f |"
        + " %d dead letters | %,d bytes%n", version, trainer.step(), examplesTrained,
        tokensTrained, lastEvalLoss, pendingDeadLetters.size(), bytes);
    pendingDeadLetters.clear();
    onPublished.accept(new Published(version, trainer.step(), examplesTrained,
        examplesInSkippedSteps, tokensTrained, lastEvalLoss, Map.copyOf(boundary)));
    dirty = false;
    stepsSinceCheckpoint = 0;
    lastCheckpoint = Instant.now();
  }

  private Map<String, Double> metrics() {
    Map<String, Double> m = new LinkedHashMap<>();
    put(m, "train_loss", lastLoss);
    put(m, "eval_loss", lastEvalLoss);
    put(m, "learning_rate", lastLr);
    put(m, "grad_norm", lastGradNorm);
    m.put("skipped_steps", (double) skippedSteps);
    m.put("retried_steps", (double) retriedSteps);
    m.put("examples_in_skipped_steps", (double) examplesInSkippedSteps);
    m.put("eval_examples", (double) evalSet.size());
    return m;
  }

  private static void put(Map<String, Double> m, String key, double value) {
    if (Double.isFinite(value)) {
      m.put(key, value);
    }
  }

  private String baseModelName() {
    return config.get("model.name").isBlank() ? config.modelDir().toString() : config.get("model.name");
  }

  private Map<String, byte[]> files(Map<String, NDArray> lora) {
    Map<String, byte[]> files = new LinkedHashMap<>();
    try {
      Path tmp = Files.createTempDirectory("sft-checkpoint");
      try {
        PeftAdapter.of(model.lora(), baseModelName(), lora).write(tmp);
        files.put(Checkpoint.ADAPTER_CONFIG, Files.readAllBytes(tmp.resolve(PeftAdapter.CONFIG_FILE)));
        files.put(Checkpoint.ADAPTER_WEIGHTS, Files.readAllBytes(tmp.resolve(PeftAdapter.WEIGHTS_FILE)));
        List<Safetensors.Tensor> moments = new ArrayList<>();
        trainer.optimizer().state().forEach((name, values) ->
            moments.add(new Safetensors.Tensor(name, new long[] {values.length}, values)));
        Safetensors.write(tmp.resolve("optimizer.safetensors"), moments, Map.of("format", "pt"));
        files.put(Checkpoint.OPTIMIZER, Files.readAllBytes(tmp.resolve("optimizer.safetensors")));
        files.put(Checkpoint.TRAINER_STATE, JSON.writerWithDefaultPrettyPrinter()
            .writeValueAsBytes(trainerState()));
      } finally {
        Directories.deleteTree(tmp);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("could not write the checkpoint files", e);
    }
    return files;
  }

  private ObjectNode trainerState() {
    ObjectNode s = JSON.createObjectNode();
    s.put("adapter", adapter);
    s.put("version", version);
    s.put("step", trainer.step());
    s.put("optimizer_steps", trainer.optimizer().steps());
    s.put("examples_trained", examplesTrained);
    s.put("tokens_trained", tokensTrained);
    s.put("skipped_steps", skippedSteps);
    s.put("retried_steps", retriedSteps);
    s.put("examples_in_skipped_steps", examplesInSkippedSteps);
    s.put("seed", config.getInt("seed"));
    ObjectNode offsets = s.putObject("offsets");
    boundary.forEach((tp, o) -> offsets.put(tp.topic() + ":" + tp.partition(), o));
    ArrayNode eval = s.putArray("eval_set");
    for (Batch.Example e : evalSet) {
      ObjectNode x = eval.addObject();
      var ids = x.putArray("input_ids");
      for (int id : e.ids()) {
        ids.add(id);
      }
      var labels = x.putArray("labels");
      for (int l : e.labels()) {
        labels.add(l);
      }
    }
    return s;
  }

  private void restore(List<TopicPartition> partitions) {
    Map<String, Object> cc = new LinkedHashMap<>(config.kafkaOverrides());
    cc.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.get("bootstrap.servers"));
    cc.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    cc.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    cc.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 4 * 1_048_576);
    Optional<Checkpoint> found;
    try (KafkaConsumer<String, CheckpointRecord> reader = new KafkaConsumer<>(cc,
        new StringDeserializer(), AvroDeserializer.specific(CheckpointRecord.class, registry))) {
      found = CheckpointLocator.newest(reader, config.get("topic.checkpoints"), adapter,
          Duration.ofSeconds(60));
    }
    Map<TopicPartition, Long> start = new LinkedHashMap<>();
    if (found.isPresent()) {
      Checkpoint c = found.get();
      CheckpointManifest m = c.manifest();
      if (!m.getTokenizerFingerprint().equals(tokenizerFingerprint)
          || !m.getBaseModelFingerprint().equals(baseFingerprint)) {
        throw new IllegalStateException("checkpoint v" + c.version() + " of adapter " + adapter
            + " was trained on another base model or tokenizer; refusing to resume from it");
      }
      loadCheckpoint(c);
      m.getSourceOffsets().forEach(po ->
          start.put(new TopicPartition(po.getTopic(), po.getPartition()), po.getOffset()));
      System.out.printf("resumed from checkpoint v%d: step %d, %d examples trained%n", version,
          trainer.step(), examplesTrained);
    } else {
      Map<TopicPartition, OffsetAndMetadata> committed =
          consumer.committed(new java.util.HashSet<>(partitions));
      committed.forEach((tp, om) -> {
        if (om != null) {
          start.put(tp, om.offset());
        }
      });
    }
    Map<TopicPartition, Long> beginnings = consumer.beginningOffsets(partitions);
    for (TopicPartition tp : partitions) {
      long offset = start.getOrDefault(tp, beginnings.get(tp));
      consumer.seek(tp, offset);
      positions.put(tp, offset);
    }
  }

  private void loadCheckpoint(Checkpoint c) {
    try {
      Path tmp = Files.createTempDirectory("sft-restore");
      try {
        for (Map.Entry<String, byte[]> f : c.files().entrySet()) {
          Files.write(tmp.resolve(f.getKey()), f.getValue());
        }
        PeftAdapter saved = PeftAdapter.read(tmp);
        if (!saved.settings().equals(model.lora())) {
          throw new IllegalStateException("checkpoint v" + c.version() + " has LoRA " + saved.settings()
              + " but this trainer is configured with " + model.lora());
        }
        model.setLora(saved.settings(), saved.weights());
        Map<String, float[]> moments = new LinkedHashMap<>();
        try (Safetensors.Reader r = Safetensors.open(tmp.resolve(Checkpoint.OPTIMIZER))) {
          for (String name : r.tensors().keySet()) {
            moments.put(name, r.readFloats(name));
          }
        }
        JsonNode s = JSON.readTree(c.files().get(Checkpoint.TRAINER_STATE));
        trainer.optimizer().restore(moments, model.loraParameters(), s.path("optimizer_steps").asLong());
        trainer.setStep(s.path("step").asLong());
        version = c.version();
        examplesTrained = s.path("examples_trained").asLong();
        tokensTrained = s.path("tokens_trained").asLong();
        skippedSteps = s.path("skipped_steps").asLong();
        retriedSteps = s.path("retried_steps").asLong();
        examplesInSkippedSteps = s.path("examples_in_skipped_steps").asLong();
        evalSet.clear();
        for (JsonNode e : s.path("eval_set")) {
          int[] ids = new int[e.path("input_ids").size()];
          int[] labels = new int[ids.length];
          for (int i = 0; i < ids.length; i++) {
            ids[i] = e.path("input_ids").get(i).asInt();
            labels[i] = e.path("labels").get(i).asInt();
          }
          evalSet.add(new Batch.Example(ids, labels));
        }
      } finally {
        Directories.deleteTree(tmp);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("could not restore checkpoint v" + c.version(), e);
    }
  }

  /**
   * sha256 over config.json and each weight file's safetensors header and size: cheap at start-up
   * for a model of any size, and changed by any change of architecture, names, shapes or dtypes.
   */
  public static String baseFingerprint(Path dir) {
    try {
      StringBuilder sb = new StringBuilder();
      sb.append(CheckpointCodec.sha256(Files.readAllBytes(dir.resolve("config.json"))));
      try (var files = Files.list(dir)) {
        for (Path f : files.filter(p -> p.getFileName().toString().endsWith(".safetensors"))
            .sorted().toList()) {
          try (var ch = java.nio.channels.FileChannel.open(f)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            ch.read(len, 0);
            long n = Math.min(len.flip().getLong(), 100_000_000L);
            ByteBuffer header = ByteBuffer.allocate((int) Math.max(0, n));
            ch.read(header, 8);
            sb.append(f.getFileName()).append(ch.size())
                .append(CheckpointCodec.sha256(header.array()));
          }
        }
      }
      return CheckpointCodec.sha256(sb.toString().getBytes(StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException("could not fingerprint " + dir, e);
    }
  }

  @Override
  public void close() {
    clientMetrics.forEach(KafkaClientMetrics::close);
    if (metricsServer != null) {
      metricsServer.close();
    }
    consumer.close(Duration.ofSeconds(5));
    producer.close(Duration.ofSeconds(5));
    registry.close();
    model.close();
    params.close();
  }
}
