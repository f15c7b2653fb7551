package io.continualsft.streams;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Feedback;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.SftExample;
import io.continualsft.chat.format.ChatModel;
import io.continualsft.runtime.metrics.MetricsServer;
import io.continualsft.schemas.registry.RegistryUnavailableException;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerde;
import io.continualsft.streams.config.StreamsAppConfig;
import io.continualsft.chat.labels.ExampleLabeler;
import io.continualsft.streams.metrics.PipelineMetrics;
import io.continualsft.streams.topology.SftTopology;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.kafka.KafkaStreamsMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Wires the running application: model, registry, serdes, topology, Kafka Streams, metrics. */
public final class StreamsApp implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(StreamsApp.class);

  private final ChatModel model;
  private final SchemaRegistryClient registryClient;
  private final KafkaStreams streams;
  private final MetricsServer metricsServer;
  private final KafkaStreamsMetrics streamsMetrics;
  private final PrometheusMeterRegistry meterRegistry;
  private final PipelineMetrics metrics;
  private final CountDownLatch stopped;

  private StreamsApp(ChatModel model, SchemaRegistryClient registryClient, KafkaStreams streams,
      MetricsServer metricsServer, KafkaStreamsMetrics streamsMetrics,
      PrometheusMeterRegistry meterRegistry, PipelineMetrics metrics, CountDownLatch stopped) {
    this.model = model;
    this.registryClient = registryClient;
    this.streams = streams;
    this.metricsServer = metricsServer;
    this.streamsMetrics = streamsMetrics;
    this.meterRegistry = meterRegistry;
    this.metrics = metrics;
    this.stopped = stopped;
  }

  public static StreamsApp start(StreamsAppConfig config) {
    if (System.getProperty("ai.djl.offline") == null) {
      System.setProperty("ai.djl.offline", "true"); // never download at run time
    }
    ChatModel model = ChatModel.load(config.modelDir(), config.chatTemplateName(),
        Clock.systemUTC());
    PrometheusMeterRegistry meters = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    new JvmMemoryMetrics().bindTo(meters);
    new JvmGcMetrics().bindTo(meters);
    new JvmThreadMetrics().bindTo(meters);
    new ClassLoaderMetrics().bindTo(meters);
    new ProcessorMetrics().bindTo(meters);
    PipelineMetrics metrics = new PipelineMetrics(meters);

    SchemaRegistryClient registry = new SchemaRegistryClient(config.registryConfig());
    SftTopology.SftSerdes serdes = new SftTopology.SftSerdes(
        AvroDeserializer.specific(Conversation.class, registry),
        AvroSerde.forValues(SftExample.class, registry),
        AvroSerde.forValues(Rejection.class, registry),
        AvroDeserializer.specific(Feedback.class, registry),
        AvroSerde.forValues(io.continualsft.avro.PreferenceExample.class, registry));
    ExampleLabeler examples = new ExampleLabeler(model, config.labelingSettings(), Clock.systemUTC());
    log.info("model {}: template {}, end-of-turn token {}, tool-call arguments as {},"
        + " tokenizer sha256 {}", model.directory(), model.templateFingerprint().substring(0, 12),
        examples.labeler().endOfTurnToken(),
        model.toolArguments().name().toLowerCase(java.util.Locale.ROOT),
        model.tokenizerFingerprint().substring(0, 12));

    if (config.feedbackSettings().joins()) {
      checkCopartitioned(config);
      log.info("feedback: train.when={}, topic {}, window {}",
          config.feedbackSettings().policy().configName(), config.feedbackSettings().topic(),
          config.feedbackSettings().window());
    }
    KafkaStreams streams = new KafkaStreams(
        SftTopology.buildTopology(config.topologySettings(), serdes, examples, metrics),
        config.streamsProperties());
    streams.setUncaughtExceptionHandler(e -> {
      if (causedBy(e, RegistryUnavailableException.class)) {
        // The record was not dead-lettered; a fresh thread retries it from the last commit.
        log.warn("schema registry unavailable, replacing the stream thread: {}", e.getMessage());
        return StreamThreadExceptionResponse.REPLACE_THREAD;
      }
      log.error("unexpected error, shutting down", e);
      return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    // Registered before start(), the only time Kafka Streams accepts a state listener.
    CountDownLatch stopped = new CountDownLatch(1);
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
        stopped.countDown();
      }
    });
    KafkaStreamsMetrics streamsMetrics = new KafkaStreamsMetrics(streams);
    streamsMetrics.bindTo(meters);
    MetricsServer server = null;
    if (config.metricsPort() > 0) {
      server = MetricsServer.start(config.get(StreamsAppConfig.METRICS_HOST), config.metricsPort(),
          meters, () -> {
            KafkaStreams.State state = streams.state();
            boolean healthy = state == KafkaStreams.State.RUNNING
                || state == KafkaStreams.State.REBALANCING || state == KafkaStreams.State.CREATED;
            return new MetricsServer.Health(healthy, state.name());
          });
    }
    streams.start();
    return new StreamsApp(model, registry, streams, server, streamsMetrics, meters, metrics,
        stopped);
  }

  /**
   * The feedback join needs a conversation and its feedback on the same partition number: both
   * keyed by conversation id, with equal partition counts. Kafka Streams checks this only for its
   * own DSL joins, so it is checked here, once, with a message that says what to fix; and the
   * topics it reads and writes must exist.
   */
  private static void checkCopartitioned(StreamsAppConfig config) {
    String conversations = config.get(StreamsAppConfig.TOPIC_CONVERSATIONS);
    String feedback = config.feedbackSettings().topic();
    String preferences = config.feedbackSettings().preferenceTopic();
    try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(
        config.adminProperties())) {
      java.util.Set<String> existing = admin.listTopics().names()
          .get(60, java.util.concurrent.TimeUnit.SECONDS);
      for (String topic : java.util.List.of(conversations, feedback, preferences)) {
        if (!existing.contains(topic)) {
          // Kafka Streams would fail the stream thread at the first record it writes there.
          throw new IllegalStateException("topic " + topic + " does not exist; train.when="
              + config.feedbackSettings().policy().configName() + " reads " + feedback
              + " (as many partitions as " + conversations + ") and writes preference examples"
              + " to " + preferences + ": create them (docs/feedback.md)");
        }
      }
      java.util.Map<String, org.apache.kafka.clients.admin.TopicDescription> topics = admin
          .describeTopics(java.util.List.of(conversations, feedback)).allTopicNames()
          .get(60, java.util.concurrent.TimeUnit.SECONDS);
      int c = topics.get(conversations).partitions().size();
      int f = topics.get(feedback).partitions().size();
      if (c != f) {
        throw new IllegalStateException("topic " + feedback + " has " + f + " partitions and "
            + conversations + " has " + c + ": the feedback join needs equal counts (both are"
            + " keyed by conversation id); give " + feedback + " " + c + " partitions");
      }
    } catch (java.util.concurrent.ExecutionException e) {
      throw new IllegalStateException("cannot describe " + conversations + " and " + feedback
          + " (train.when=" + config.feedbackSettings().policy().configName() + " reads both;"
          + " create the feedback topic with as many partitions as the conversations topic): "
          + e.getCause().getMessage(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while describing the input topics", e);
    } catch (java.util.concurrent.TimeoutException e) {
      throw new IllegalStateException("describing " + conversations + " and " + feedback
          + " took over 60 s; is bootstrap.servers reachable?", e);
    }
  }

  private static boolean causedBy(Throwable e, Class<? extends Throwable> type) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (type.isInstance(t)) {
        return true;
      }
    }
    return false;
  }

  /** Blocks until Kafka Streams has stopped (closed, or failed); true if it failed. */
  public boolean awaitStopped() throws InterruptedException {
    stopped.await();
    return streams.state() == KafkaStreams.State.ERROR;
  }

  public PrometheusMeterRegistry meterRegistry() {
    return meterRegistry;
  }

  /** The app's own counts: accepted, rejected by reason, duplicates. */
  public PipelineMetrics metrics() {
    return metrics;
  }

  public int metricsPort() {
    return metricsServer == null ? -1 : metricsServer.port();
  }

  @Override
  public void close() {
    streams.close(Duration.ofSeconds(30));
    streamsMetrics.close();
    if (metricsServer != null) {
      metricsServer.close();
    }
    registryClient.close();
    model.close();
  }
}
