package io.continualsft.it.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.continualsft.avro.Conversation;
import io.continualsft.avro.Feedback;
import io.continualsft.avro.SftExample;
import io.continualsft.it.support.Clients;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.it.support.TestConfigs;
import io.continualsft.it.support.TestDirs;
import io.continualsft.it.trainer.TrainerFixtures;
import io.continualsft.local.FreePorts;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.streams.StreamsApp;
import io.continualsft.streams.config.StreamsAppConfig;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.service.Published;
import io.continualsft.trainer.service.TrainerService;
import java.io.StringReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;

/**
 * Keeps deploy/ honest: every YAML and JSON file parses, every configuration key the files set is
 * one the services (or their Kafka clients) know, every file a Dockerfile copies exists after the
 * build, and every metric the Grafana dashboard and the Prometheus alerts use is on the running
 * services' /metrics.
 */
@RealServices
class DeployFilesIT {
  private static final Path DEPLOY = Path.of("..", "deploy");
  private static final Pattern METRIC = Pattern.compile("\\b((?:sft|kafka|jvm)_[a-z0-9_]+)");

  @Test
  void everyYamlAndJsonFileParses() throws Exception {
    List<Path> files = files(".yml", ".yaml", ".json");
    assertThat(files).hasSizeGreaterThanOrEqualTo(10);
    for (Path f : files) {
      assertThat(documents(f)).as(f.toString()).isNotEmpty();
    }
  }

  @Test
  void everyConfigurationKeyIsOneTheServicesKnow() throws Exception {
    Map<String, Properties> configs = new TreeMap<>();
    for (Path f : files(".properties")) {
      configs.put(f.toString(), properties(Files.readString(f)));
    }
    for (Path f : files(".yaml", ".yml")) { // ConfigMaps: data entries that are properties files
      for (JsonNode doc : documents(f)) {
        if (doc.path("kind").asText().equals("ConfigMap")) {
          doc.path("data").properties().forEach(e -> {
            if (e.getKey().endsWith(".properties")) {
              configs.put(f + "#" + e.getKey(), properties(e.getValue().asText()));
            }
          });
        }
      }
    }
    assertThat(configs.keySet()).anyMatch(k -> k.contains("streams"))
        .anyMatch(k -> k.contains("trainer"));
    Set<String> registry = SchemaRegistryConfig.DEFAULTS.keySet();
    for (var e : configs.entrySet()) {
      boolean streams = e.getKey().contains("streams");
      for (String key : e.getValue().stringPropertyNames()) {
        boolean known = streams
            ? StreamsAppConfig.KEYS.containsKey(key) || registry.contains(key)
                || StreamsConfig.configDef().names().contains(key) || isClientKey(key)
            : TrainerConfig.KEYS.containsKey(key) || registry.contains(key) || isClientKey(key);
        assertThat(known).as("%s sets %s, which the %s does not know", e.getKey(), key,
            streams ? "streams app" : "trainer").isTrue();
      }
      // And the file is a configuration the service accepts as a whole.
      Map<String, String> values = new HashMap<>();
      e.getValue().stringPropertyNames().forEach(k -> values.put(k, e.getValue().getProperty(k)));
      if (streams) {
        StreamsAppConfig.of(values).topologySettings();
      } else {
        TrainerConfig.fromMap(values);
      }
    }
  }

  @Test
  void everyWorkloadIsHardenedAndBoundedInMemory() throws Exception {
    int containers = 0;
    for (Path f : files(".yaml", ".yml")) {
      if (!f.toString().contains("k8s")) {
        continue;
      }
      for (JsonNode doc : documents(f)) {
        String kind = doc.path("kind").asText();
        if (!kind.equals("Deployment") && !kind.equals("StatefulSet")) {
          continue;
        }
        JsonNode pod = doc.path("spec").path("template").path("spec");
        String where = f + " " + doc.path("metadata").path("name").asText();
        assertThat(pod.path("securityContext").path("runAsNonRoot").asBoolean()).as(where).isTrue();
        assertThat(pod.path("securityContext").path("seccompProfile").path("type").asText())
            .as(where).isEqualTo("RuntimeDefault");
        Set<String> volumes = new TreeSet<>();
        pod.path("volumes").forEach(v -> volumes.add(v.path("name").asText()));
        doc.path("spec").path("volumeClaimTemplates")
            .forEach(v -> volumes.add(v.path("metadata").path("name").asText()));
        for (JsonNode c : pod.path("containers")) {
          containers++;
          JsonNode sc = c.path("securityContext");
          assertThat(sc.path("allowPrivilegeEscalation").asBoolean(true)).as(where).isFalse();
          assertThat(sc.path("readOnlyRootFilesystem").asBoolean()).as(where).isTrue();
          assertThat(sc.path("capabilities").path("drop").toString()).as(where).contains("ALL");
          assertThat(c.path("resources").path("limits").path("memory").asText()).as(where)
              .isNotEmpty();
          assertThat(c.path("livenessProbe").isMissingNode()).as(where + " liveness").isFalse();
          // A read-only root needs somewhere to write: /tmp at least, on a volume.
          List<String> mounts = new ArrayList<>();
          c.path("volumeMounts").forEach(m -> mounts.add(m.path("mountPath").asText()));
          assertThat(mounts).as(where).contains("/tmp");
          c.path("volumeMounts").forEach(m ->
              assertThat(volumes).as(where).contains(m.path("name").asText()));
        }
      }
    }
    assertThat(containers).isEqualTo(2);
    String compose = Files.readString(DEPLOY.resolve("compose/docker-compose.yml"));
    Matcher ports = Pattern.compile("ports: \\[\"([^\"]+)\"\\]").matcher(compose);
    int published = 0;
    while (ports.find()) {
      published++;
      assertThat(ports.group(1)).as("compose publishes on loopback only").startsWith("127.0.0.1:");
    }
    assertThat(published).isPositive();
    assertThat(StreamsAppConfig.of(Map.of("bootstrap.servers", "b:1", "schema.registry.url",
        "http://r", "application.id", "a", "model.dir", "/m")).streamsProperties()
        .get(StreamsConfig.ROCKSDB_CONFIG_SETTER_CLASS_CONFIG))
        .as("RocksDB memory is bounded by default").isNotNull();
  }

  @Test
  void everyFileADockerfileCopiesExists() throws Exception {
    Pattern copy = Pattern.compile("^COPY\\s+(?!--from)(\\S+)\\s+\\S+", Pattern.MULTILINE);
    List<Path> dockerfiles = files(".Dockerfile");
    assertThat(dockerfiles).hasSize(3);
    for (Path f : dockerfiles) {
      Matcher m = copy.matcher(Files.readString(f));
      while (m.find()) {
        assertThat(Path.of("..", m.group(1))).as(f + ": COPY " + m.group(1)).exists();
      }
    }
  }

  @Test
  void everyMetricTheDashboardAndAlertsUseIsExported(KafkaCluster kafka, SchemaRegistry registry)
      throws Exception {
    Set<String> used = new TreeSet<>();
    for (JsonNode target : documents(DEPLOY.resolve("grafana/dashboards/continual-sft.json"))
        .getFirst().findValues("expr")) {
      used.addAll(metrics(target.asText()));
    }
    for (JsonNode rule : documents(DEPLOY.resolve("prometheus/alerts.yml")).getFirst()
        .findValues("expr")) {
      used.addAll(metrics(rule.asText()));
    }
    assertThat(used).contains("sft_trainer_eval_loss", "sft_conversations_rejected_total");

    String exported = scrapeRunningServices(kafka, registry);
    Set<String> missing = new TreeSet<>();
    for (String name : used) {
      if (!Pattern.compile("(?m)^" + name + "[{ ]").matcher(exported).find()) {
        missing.add(name);
      }
    }
    assertThat(missing).as("metrics used in deploy/ but not on any /metrics").isEmpty();

    // docs/metrics.md lists what is exported, no more and no less.
    Set<String> documented = metrics(Files.readString(Path.of("..", "docs", "metrics.md")));
    Set<String> undocumented = new TreeSet<>();
    Matcher sample = Pattern.compile("(?m)^(sft_[a-z0-9_]+?)(_count|_sum|_max)?[{ ]")
        .matcher(exported);
    while (sample.find()) {
      if (!documented.contains(sample.group(1))) {
        undocumented.add(sample.group(1));
      }
    }
    assertThat(undocumented).as("exported but not in docs/metrics.md").isEmpty();
    Set<String> notExported = new TreeSet<>();
    for (String name : documented) {
      if (name.startsWith("sft_")
          && !Pattern.compile("(?m)^" + name + "(_count|_sum|_max)?[{ ]").matcher(exported).find()) {
        notExported.add(name);
      }
    }
    assertThat(notExported).as("in docs/metrics.md but not exported").isEmpty();
  }

  /** Runs the streams app and the trainer on a few conversations; both /metrics, concatenated. */
  private static String scrapeRunningServices(KafkaCluster kafka, SchemaRegistry registry)
      throws Exception {
    Path work = Files.createDirectories(TestDirs.fresh("deploy-metrics"));
    Path model = TrainerFixtures.tinyModel(Files.createDirectories(work.resolve("model")));
    String s = UUID.randomUUID().toString().substring(0, 8);
    String in = "conversations-" + s;
    String examples = "examples-" + s;
    kafka.createTopics(1, in, examples, "dlq-" + s, "examples-dlq-" + s, "checkpoints-" + s,
        "feedback-" + s, "preference-examples-" + s);
    Map<String, String> streams = TestConfigs.streamsApp(kafka, registry, "deploy-" + s, in,
        examples, "dlq-" + s, model, work.resolve("state"));
    // With the feedback join, so its metrics are exported too: each conversation is rated up,
    // which releases it at once and trains it as without feedback.
    streams.put("train.when", "not-rated-bad");
    streams.put("topic.feedback", "feedback-" + s);
    streams.put("topic.preference-examples", "preference-examples-" + s);
    TrainerSettings trainer = TrainerFixtures.settings(kafka, registry.url(), model, examples,
        "examples-dlq-" + s, "checkpoints-" + s, "default", "deploy-" + s)
        .set(TrainerConfig.METRICS_PORT, FreePorts.pick()).set(TrainerConfig.METRICS_HOST, "127.0.0.1").build();

    List<Conversation> conversations = TrainerFixtures.conversations(20, "deploy");
    try (StreamsApp app = StreamsApp.start(StreamsAppConfig.of(streams));
        SchemaRegistryClient client = registry.client(true);
        TrainerService service = TrainerService.create(trainer)) {
      Clients.produce(kafka, in, new AvroSerializer<Conversation>(client, false),
          conversations.stream().map(Conversation::getId).toList(), conversations);
      Clients.produce(kafka, "feedback-" + s, new AvroSerializer<Feedback>(client, false),
          conversations.stream().map(Conversation::getId).toList(), conversations.stream()
              .map(c -> Feedback.newBuilder().setConversationId(c.getId()).setRating("up")
                  .setCreatedAt(c.getCreatedAt()).build()).toList());
      Clients.consume(kafka, examples, AvroDeserializer.specific(SftExample.class, client), 20,
          Duration.ofSeconds(60));
      List<Published> published = new java.util.concurrent.CopyOnWriteArrayList<>();
      service.onPublished(published::add);
      AtomicBoolean stop = new AtomicBoolean();
      CompletableFuture<Void> running = CompletableFuture.runAsync(() -> service.run(stop::get));
      Instant deadline = Instant.now().plusSeconds(120);
      while (published.isEmpty() && Instant.now().isBefore(deadline) && !running.isDone()) {
        Thread.sleep(200);
      }
      assertThat(published).as("a checkpoint, so every trainer metric has a value").isNotEmpty();
      String text = scrape(app.metricsPort()) + scrape(service.metricsPort());
      stop.set(true);
      running.get(60, TimeUnit.SECONDS);
      return text;
    }
  }

  private static String scrape(int port) throws Exception {
    try (HttpClient http = HttpClient.newHttpClient()) {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(
          URI.create("http://127.0.0.1:" + port + "/metrics")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).isEqualTo(200);
      return r.body();
    }
  }

  private static Set<String> metrics(String expr) {
    Set<String> out = new TreeSet<>();
    Matcher m = METRIC.matcher(expr);
    while (m.find()) {
      out.add(m.group(1));
    }
    return out;
  }

  private static boolean isClientKey(String key) {
    String bare = key.replaceFirst("^(consumer|producer|admin|main\\.consumer|restore\\.consumer"
        + "|global\\.consumer)\\.", "");
    return ConsumerConfig.configNames().contains(bare) || ProducerConfig.configNames().contains(bare)
        || AdminClientConfig.configNames().contains(bare);
  }

  private static List<Path> files(String... suffixes) throws Exception {
    try (Stream<Path> walk = Files.walk(DEPLOY)) {
      return walk.filter(Files::isRegularFile)
          .filter(p -> Stream.of(suffixes).anyMatch(x -> p.getFileName().toString().endsWith(x)))
          .sorted().toList();
    }
  }

  private static List<JsonNode> documents(Path f) throws Exception {
    ObjectMapper mapper = f.toString().endsWith(".json") ? new ObjectMapper()
        : new ObjectMapper(new YAMLFactory());
    List<JsonNode> docs = new ArrayList<>();
    try (MappingIterator<JsonNode> it = mapper.readerFor(JsonNode.class).readValues(f.toFile())) {
      while (it.hasNext()) {
        JsonNode doc = it.next();
        if (doc != null && !doc.isNull() && !doc.isMissingNode()) {
          docs.add(doc);
        }
      }
    }
    return docs;
  }

  private static Properties properties(String text) {
    Properties p = new Properties();
    try {
      p.load(new StringReader(text));
    } catch (java.io.IOException e) {
      throw new IllegalStateException(e);
    }
    return p;
  }
}
