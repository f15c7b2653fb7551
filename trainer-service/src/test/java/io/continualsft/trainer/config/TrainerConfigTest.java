package io.continualsft.trainer.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;
import io.continualsft.chat.labels.AllowedAdapters;
import org.junit.jupiter.api.Test;

/** The keys, their defaults (the builder's) and the errors that name them. */
class TrainerConfigTest {
  static Map<String, String> required() {
    Map<String, String> m = new HashMap<>();
    m.put("bootstrap.servers", "broker:9092");
    m.put("schema.registry.url", "http://registry:8081");
    m.put("model.dir", "/models/base");
    return m;
  }

  static Map<String, String> with(Map<String, String> m, String key, String value) {
    m.put(key, value);
    return m;
  }

  @Test
  void defaultsComeFromTheBuilderAndDerivedIdsFromTheAdapter() {
    TrainerSettings s = TrainerConfig.fromMap(required());
    assertThat(s.adapter()).isEqualTo("default");
    assertThat(s.kafka().groupId()).isEqualTo("sft-trainer-default");
    assertThat(s.kafka().transactionalId()).isEqualTo("sft-trainer-default");
    assertThat(s.kafka().examplesTopic()).isEqualTo("sft.examples");
    assertThat(s.kafka().deadLetterTopic()).isEqualTo("sft.examples.dlq");
    assertThat(s.kafka().checkpointTopic()).isEqualTo("sft.adapter-checkpoints");
    assertThat(s.lora().r()).isEqualTo(8);
    assertThat(s.lora().targetModules()).containsExactly("q_proj", "v_proj");
    assertThat(s.optimizer().learningRate()).isEqualTo(1e-4);
    assertThat(s.steps().stepTokens()).isEqualTo(2048);
    assertThat(s.model().baseModelName()).isEqualTo("/models/base");
    assertThat(TrainerConfig.KEYS.get("optimizer.lr").defaultValue()).isEqualTo("1e-4");
    assertThat(TrainerConfig.KEYS.get("optimizer.betas").defaultValue()).isEqualTo("0.9,0.999");
    assertThat(TrainerConfig.KEYS.get("model.dir").defaultValue()).as("required").isNull();
  }

  @Test
  void everyAdapterModeSharesOneGroupWithATransactionalIdPerTrainer() {
    Map<String, String> m = required();
    m.put("adapter.id", "*");
    m.put("adapters.max-resident", "3");
    m.put("lora.r", "8");
    m.put("adapters.lora-overrides",
        "acme.r=16; acme.target-modules=q_proj,k_proj,v_proj ;globex.alpha=32");
    TrainerSettings s = TrainerConfig.fromMap(m);
    assertThat(s.everyAdapter()).isTrue();
    assertThat(s.trains("anyone")).isTrue();
    assertThat(s.kafka().groupId()).isEqualTo("sft-trainers");
    assertThat(s.kafka().transactionalId()).matches("sft-trainers-[0-9a-f]{8}");
    assertThat(TrainerConfig.fromMap(m).kafka().transactionalId())
        .as("each trainer its own").isNotEqualTo(s.kafka().transactionalId());
    assertThat(s.adapters().maxResident()).isEqualTo(3);
    assertThat(s.loraFor("acme").r()).isEqualTo(16);
    assertThat(s.loraFor("acme").alpha()).as("from lora.*").isEqualTo(16);
    assertThat(s.loraFor("acme").targetModules()).containsExactlyInAnyOrder("q_proj", "k_proj",
        "v_proj");
    assertThat(s.loraFor("globex").r()).isEqualTo(8);
    assertThat(s.loraFor("globex").alpha()).isEqualTo(32);
    assertThat(s.loraFor("initech")).isEqualTo(s.lora());
    // Written back for a child process and read again: the same overrides.
    assertThat(TrainerConfig.fromMap(TrainerConfig.toProperties(s)).adapters())
        .isEqualTo(s.adapters());
    TrainerSettings named = TrainerConfig.fromMap(required());
    assertThat(named.trains("default")).isTrue();
    assertThat(named.trains("acme")).isFalse();
  }

  @Test
  void aBadAdapterNameOrOverrideNamesTheKey() {
    Map<String, String> m = required();
    m.put("adapter.id", "no spaces");
    assertThatThrownBy(() -> TrainerConfig.fromMap(m)).isInstanceOf(ConfigException.class)
        .hasMessageContaining("adapter.id");
    m.put("adapter.id", "*");
    m.put("adapters.lora-overrides", "acme.rank=4");
    assertThatThrownBy(() -> TrainerConfig.fromMap(m)).isInstanceOf(ConfigException.class)
        .hasMessageContaining("adapters.lora-overrides").hasMessageContaining("KEY must be");
    m.put("adapters.lora-overrides", "acme.r=0");
    assertThatThrownBy(() -> TrainerConfig.fromMap(m)).isInstanceOf(ConfigException.class)
        .hasMessageContaining("adapters.lora-overrides").hasMessageContaining("r must be >= 1");
    m.put("adapters.lora-overrides", "");
    m.put("adapters.max-resident", "0");
    assertThatThrownBy(() -> TrainerConfig.fromMap(m)).isInstanceOf(ConfigException.class)
        .hasMessageContaining("adapters.max-resident");
  }

  @Test
  void theFilesKeysSetTheSettingsAndOthersGoToTheClients() {
    Map<String, String> m = required();
    m.put("adapter.id", "tenant-7");
    m.put("lora.target-modules", "all-linear");
    m.put("lora.alpha", "32");
    m.put("optimizer.betas", "0.8, 0.95");
    m.put("batch.mode", "pack");
    m.put("lr.schedule", "cosine");
    m.put("debug.nonfinite-steps", "3,5");
    m.put("security.protocol", "SASL_SSL");
    m.put("basic.auth.credentials.source", "USER_INFO");
    m.put("basic.auth.user.info", "u:p");
    TrainerSettings s = TrainerConfig.fromMap(m);
    assertThat(s.adapter()).isEqualTo("tenant-7");
    assertThat(s.kafka().groupId()).isEqualTo("sft-trainer-tenant-7");
    assertThat(s.lora().targetModules()).hasSize(7);
    assertThat(s.lora().alpha()).isEqualTo(32);
    assertThat(s.optimizer().beta1()).isEqualTo(0.8);
    assertThat(s.optimizer().beta2()).isEqualTo(0.95);
    assertThat(s.steps().pack()).isTrue();
    assertThat(s.optimizer().cosine()).isTrue();
    assertThat(s.nonFiniteSteps()).containsExactly(3L, 5L);
    assertThat(s.kafka().clientProperties()).isEqualTo(Map.of("security.protocol", "SASL_SSL"));
    assertThat(s.kafka().registry().userInfo()).isEqualTo("u:p");
  }

  @Test
  void settingsNeverPrintTheirSecrets() {
    TrainerSettings s = TrainerSettings.builder()
        .set(TrainerConfig.BOOTSTRAP_SERVERS, "b:1").set(TrainerConfig.REGISTRY_URL, "http://r:2").set(TrainerConfig.MODEL_DIR, Path.of("/m"))
        .set("sasl.jaas.config", "ScramLoginModule required password=\"kafka-pw\";")
        .set("ssl.truststore.password", "store-pw")
        .set("bearer.auth.credentials.source", "STATIC_TOKEN")
        .set("bearer.auth.token", "registry-token")
        .build();
    assertThat(s.toString()).doesNotContain("kafka-pw", "store-pw", "registry-token")
        .contains("sasl.jaas.config=[hidden]", "bearer.auth.credentials.source=STATIC_TOKEN");
  }

  @Test
  void settingsWrittenAsPropertiesReadBackEqual() {
    TrainerSettings s = TrainerSettings.builder()
        .set(TrainerConfig.BOOTSTRAP_SERVERS, "b:1").set(TrainerConfig.REGISTRY_URL, "http://r:2").set(TrainerConfig.AUTO_REGISTER_SCHEMAS, "true")
        .set(TrainerConfig.MODEL_DIR, Path.of("/m")).set(TrainerConfig.MODEL_NAME, "tiny").set(TrainerConfig.ADAPTER, "a").set(TrainerConfig.GROUP_ID, "g")
        .set(TrainerConfig.LORA_R, 16).set(TrainerConfig.LORA_ALPHA, 32).set(TrainerConfig.LORA_DROPOUT, 0.05).set(TrainerConfig.LORA_TARGET_MODULES, List.of("all-linear"))
        .set(TrainerConfig.LEARNING_RATE, 0.03).set(TrainerConfig.EPS, 2.5e-7).set(TrainerConfig.BETAS, List.of(0.9, 0.98)).set(TrainerConfig.WARMUP_STEPS, 5).set(TrainerConfig.COSINE, true)
        .set(TrainerConfig.EVAL_FRACTION, 0.1).set(TrainerConfig.MAX_LENGTH, 1024).set(TrainerConfig.TOKEN_BUDGET, 2048).set(TrainerConfig.STEP_TOKENS, 32).set(TrainerConfig.PACK, true)
        .set(TrainerConfig.CHECKPOINT_EVERY_STEPS, 20).set(TrainerConfig.METRICS_PORT, 0).set(TrainerConfig.NON_FINITE_STEPS, List.of(4L))
        .set("ssl.truststore.location", "/t.jks")
        .build();
    assertThat(TrainerConfig.fromMap(TrainerConfig.toProperties(s))).isEqualTo(s);
  }

  @Test
  void aBadValueFailsNamingItsKey() {
    for (Map.Entry<String, String> bad : List.of(
        Map.entry("lora.r", "eight"), Map.entry("optimizer.lr", "-1"),
        Map.entry("batch.mode", "stacked"), Map.entry("lr.schedule", "linear"),
        Map.entry("optimizer.betas", "0.9"), Map.entry("eval.fraction", "1.5"),
        Map.entry("batch.token-budget", "0"), Map.entry("device", "tpu"),
        Map.entry("metrics.port", "70000"), Map.entry("lora.target-modules", "lm_head"),
        Map.entry("release.policy", "always"), Map.entry("replay.fraction", "0.95"),
        Map.entry("gate.max-retention-increase", "-0.1"),
        Map.entry("retention.file", "/no/such/file.jsonl"))) {
      Map<String, String> m = required();
      m.put(bad.getKey(), bad.getValue());
      assertThatThrownBy(() -> TrainerConfig.fromMap(m)).as(bad.toString())
          .isInstanceOf(ConfigException.class)
          .hasMessageContaining(bad.getKey().startsWith("lora") ? "lora" : bad.getKey());
    }
  }

  @Test
  void theReleaseAndReplayKeysReadAndCheckTogether() {
    Map<String, String> m = required();
    m.putAll(Map.of("release.policy", "every-candidate", "replay.fraction", "0.25",
        "gate.max-eval-increase", "0.02", "topic.releases", "my.releases"));
    TrainerSettings s = TrainerConfig.fromMap(m);
    assertThat(s.gate()).isEqualTo(new TrainerSettings.Gate(
        TrainerSettings.ReleasePolicy.EVERY_CANDIDATE, 0.02, 0.05, 0.01));
    assertThat(s.replay().count(9)).isEqualTo(3);
    assertThat(s.kafka().releasesTopic()).isEqualTo("my.releases");
    assertThat(TrainerConfig.fromMap(TrainerConfig.toProperties(s))).isEqualTo(s);
    m.put("replay.retention-share", "0.5");
    assertThatThrownBy(() -> TrainerConfig.fromMap(m)).isInstanceOf(ConfigException.class)
        .hasMessageContaining("replay.retention-share").hasMessageContaining("retention set");
    m.remove("replay.retention-share");
    m.put("retention.topic", "keep");
    m.put("retention.file", "pom.xml");
    assertThatThrownBy(() -> TrainerConfig.fromMap(m)).isInstanceOf(ConfigException.class)
        .hasMessageContaining("not both");
  }

  @Test
  void aMissingRequiredKeyIsNamedWithItsEnvironmentVariable() {
    Map<String, String> m = required();
    m.remove("model.dir");
    assertThatThrownBy(() -> TrainerConfig.fromMap(m))
        .hasMessageContaining("model.dir").hasMessageContaining("SFT_MODEL_DIR");
  }

  @Test
  void theEnvironmentOverridesTheFile() {
    TrainerSettings s = TrainerConfig.load(null, Map.of("SFT_BOOTSTRAP_SERVERS", "env:9092",
        "SFT_SCHEMA_REGISTRY_URL", "http://env", "SFT_MODEL_DIR", "/env/model",
        "SFT_STEP_TOKENS", "64", "SFT_KAFKA_SASL_MECHANISM", "PLAIN"));
    assertThat(s.kafka().bootstrapServers()).isEqualTo("env:9092");
    assertThat(s.steps().stepTokens()).isEqualTo(64);
    assertThat(s.kafka().clientProperties()).containsEntry("sasl.mechanism", "PLAIN");
  }

  /**
   * Every setting is documented, and its default, written as text, reads back as the default:
   * what the reference shows is what a trainer without the key gets.
   */
  @Test
  void everySettingIsDocumentedAndItsDefaultReadsBackEqual() {
    for (Setting<?> setting : TrainerConfig.SETTINGS) {
      assertThat(setting.doc()).as(setting.key()).isNotBlank();
      assertThat(TrainerConfig.KEYS).containsKey(setting.key());
      if (!setting.required()) {
        assertRoundTrip(setting);
      }
    }
    assertThat(TrainerConfig.SETTINGS).extracting(Setting::key).doesNotHaveDuplicates();
  }

  private static <T> void assertRoundTrip(Setting<T> setting) {
    assertThat(setting.parse(setting.print(setting.defaultValue()))).as(setting.key())
        .isEqualTo(setting.defaultValue());
  }

  /** The checks live in the records: settings made in code are held to them too. */
  @Test
  void eachRecordChecksItsComponentsNamingTheirKeys() {
    assertThatThrownBy(() -> new TrainerSettings.Steps(2048, -1, false, 32, 0, "auto",
        TrainerSettings.Recompute.AUTO, 256))
        .isInstanceOf(ConfigException.class).hasMessageContaining("batch.token-budget")
        .hasMessageContaining("must be auto or >= 1");
    assertThatThrownBy(() -> new TrainerSettings.Optimizer(1e-4, 0, 0.9, 1.0, 1e-8, 0, false, 1,
        1.0)).isInstanceOf(ConfigException.class).hasMessageContaining("optimizer.betas");
    assertThatThrownBy(() -> new TrainerSettings.Eval(1.0, 8))
        .isInstanceOf(ConfigException.class).hasMessageContaining("eval.fraction");
    assertThatThrownBy(() -> new TrainerSettings.Checkpoints(1, 1, 100))
        .isInstanceOf(ConfigException.class).hasMessageContaining("checkpoint.chunk-bytes");
    assertThatThrownBy(() -> new TrainerSettings.Observability(70_000, "0.0.0.0", 1))
        .isInstanceOf(ConfigException.class).hasMessageContaining("metrics.port");
    assertThatThrownBy(() -> new TrainerSettings.Gate(TrainerSettings.ReleasePolicy.GATE,
        Double.NaN, 0, 0)).isInstanceOf(ConfigException.class)
        .hasMessageContaining("gate.max-eval-increase");
    assertThatThrownBy(() -> new TrainerSettings.Replay(0.95, 0))
        .isInstanceOf(ConfigException.class).hasMessageContaining("replay.fraction");
    assertThatThrownBy(() -> new TrainerSettings.Adapters(0, AllowedAdapters.ANY, 10, Map.of()))
        .isInstanceOf(ConfigException.class).hasMessageContaining("adapters.max-resident");
    assertThatThrownBy(() -> new TrainerSettings.Adapters(1, AllowedAdapters.ANY, 0, Map.of()))
        .isInstanceOf(ConfigException.class).hasMessageContaining("adapters.max-known");
    assertThatThrownBy(() -> TrainerConfig.fromMap(with(required(), "adapters.allowed",
        "team-*,../x"))).isInstanceOf(ConfigException.class)
        .hasMessageContaining("adapters.allowed").hasMessageContaining("\"../x\" is not");
    assertThatThrownBy(() -> TrainerConfig.fromMap(with(required(), "adapters.allowed",
        "team-*"))).isInstanceOf(ConfigException.class)
        .hasMessageContaining("adapters.allowed").hasMessageContaining("adapter.id default");
    assertThatThrownBy(() -> new TrainerSettings.Retention(java.util.Optional.empty(), "", 0))
        .isInstanceOf(ConfigException.class).hasMessageContaining("retention.max-examples");
    TrainerSettings ok = TrainerConfig.fromMap(required());
    assertThatThrownBy(() -> new TrainerSettings(ok.kafka(), "bad name", ok.model(), ok.lora(),
        ok.seed(), ok.steps(), ok.optimizer(), ok.eval(), ok.checkpoints(), ok.observability(),
        ok.gate(), ok.retention(), ok.replay(), ok.objectives(), ok.adapters(), ok.labels(),
        ok.erasure(), ok.nonFiniteSteps()))
        .isInstanceOf(ConfigException.class).hasMessageContaining("adapter.id");
  }

  /**
   * {@code objective}: one word for every adapter, or PATTERN=WORD entries, the first match
   * deciding; the topics read follow from it.
   */
  @Test
  void theObjectiveIsChosenPerAdapterAndDecidesTheTopicsRead() {
    TrainerSettings sft = TrainerConfig.fromMap(required());
    assertThat(sft.objectiveOf("default")).isEqualTo(AdapterObjectives.Kind.SFT);
    assertThat(sft.inputTopics()).containsExactly("sft.examples");

    TrainerSettings kto = TrainerConfig.fromMap(with(required(), "objective", "kto"));
    assertThat(kto.objectiveOf("default")).isEqualTo(AdapterObjectives.Kind.KTO);
    assertThat(kto.inputTopics()).containsExactly("sft.preference-examples");
    assertThat(kto.objectives().beta()).isEqualTo(0.1);

    Map<String, String> mixed = with(required(), "adapter.id", "*");
    mixed.put("objective", "support-*=kto, support-legacy=sft");
    TrainerSettings every = TrainerConfig.fromMap(mixed);
    assertThat(every.objectiveOf("support-bot")).isEqualTo(AdapterObjectives.Kind.KTO);
    assertThat(every.objectiveOf("support-legacy")).isEqualTo(AdapterObjectives.Kind.KTO);
    assertThat(every.objectiveOf("sales")).isEqualTo(AdapterObjectives.Kind.SFT);
    assertThat(every.inputTopics()).containsExactly("sft.examples", "sft.preference-examples");
    // Read back equal, through the same text.
    assertThat(TrainerConfig.fromMap(TrainerConfig.toProperties(every)).objectives())
        .isEqualTo(every.objectives());
    mixed.put("objective", "*=kto");
    assertThat(TrainerConfig.fromMap(mixed).inputTopics())
        .containsExactly("sft.preference-examples");

    assertThatThrownBy(() -> TrainerConfig.fromMap(with(required(), "objective", "dpo")))
        .isInstanceOf(ConfigException.class).hasMessageContaining("objective")
        .hasMessageContaining("\"dpo\" is not an objective");
    assertThatThrownBy(() -> TrainerConfig.fromMap(with(required(), "objective", "kto,sft")))
        .isInstanceOf(ConfigException.class).hasMessageContaining("PATTERN=sft");
    Map<String, String> sameTopic = with(required(), "objective", "kto");
    sameTopic.put("topic.preference-examples", "sft.examples");
    assertThatThrownBy(() -> TrainerConfig.fromMap(sameTopic))
        .isInstanceOf(ConfigException.class).hasMessageContaining("topic.preference-examples");
    assertThatThrownBy(() -> TrainerConfig.fromMap(with(required(), "kto.beta", "0")))
        .isInstanceOf(ConfigException.class).hasMessageContaining("kto.beta");
  }

  /** The trainer reads the streams app's labelling keys, by the same names, for its retention set. */
  @Test
  void theLabellingKeysAreTheStreamsAppsAndReadBackEqual() {
    Map<String, String> m = required();
    m.put("labels.policy", "last");
    m.put("labels.reasoning", "exclude");
    m.put("labels.max-length", "1024");
    m.put("model.chat-template-name", "tool_use");
    TrainerSettings s = TrainerConfig.fromMap(m);
    assertThat(s.labels().templateName()).isEqualTo("tool_use");
    assertThat(s.labels().rules()).isEqualTo(io.continualsft.chat.labels.LabelingSettings.DEFAULTS
        .withPolicy(io.continualsft.chat.labels.LabelingSettings.TrainPolicy.LAST)
        .withReasoning(io.continualsft.chat.labels.LabelingSettings.Reasoning.EXCLUDE)
        .withMaxLength(1024, io.continualsft.chat.labels.LabelingSettings.Truncation.DROP));
    assertThat(s.kafka().clientProperties()).as("not passed to the Kafka clients")
        .doesNotContainKeys("labels.policy", "model.chat-template-name");
    assertThat(TrainerConfig.fromMap(TrainerConfig.toProperties(s))).isEqualTo(s);
    assertThat(TrainerConfig.fromMap(required()).labels().rules())
        .isEqualTo(io.continualsft.chat.labels.LabelingSettings.DEFAULTS);
    m.put("labels.policy", "some");
    assertThatThrownBy(() -> TrainerConfig.fromMap(m)).isInstanceOf(ConfigException.class)
        .hasMessageContaining("labels.policy");
  }

  @Test
  void theBuilderWritesThroughTheKeysAsAFileWould() {
    TrainerSettings built = TrainerSettings.builder()
        .set(TrainerConfig.BOOTSTRAP_SERVERS, "broker:9092")
        .set(TrainerConfig.REGISTRY_URL, "http://registry:8081")
        .set(TrainerConfig.MODEL_DIR, Path.of("/models/base"))
        .set(TrainerConfig.LORA_ALPHA, 32).set(TrainerConfig.SEED, 7)
        .set(TrainerConfig.BETAS, List.of(0.8, 0.95)).set(TrainerConfig.PACK, true)
        .set("security.protocol", "SASL_SSL").build();
    Map<String, String> m = required();
    m.putAll(Map.of("lora.alpha", "32", "seed", "7", "optimizer.betas", "0.8,0.95",
        "batch.mode", "pack", "security.protocol", "SASL_SSL"));
    assertThat(built).isEqualTo(TrainerConfig.fromMap(m));
  }
}
