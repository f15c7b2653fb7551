package io.continualsft.trainer.service;

import static io.continualsft.trainer.service.TrainerServiceTest.IDENTITY;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.continualsft.avro.AdapterRelease;
import io.continualsft.avro.CheckpointManifest;
import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.ErasureRequest;
import io.continualsft.avro.ReleaseDecision;
import io.continualsft.avro.SftExample;
import io.continualsft.schemas.registry.InMemorySchemaRegistry;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.trainer.checkpoint.Checkpoint;
import io.continualsft.trainer.checkpoint.CheckpointSource;
import io.continualsft.trainer.config.TrainerConfig;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.erasure.ErasureFeed;
import io.continualsft.trainer.testing.LogConsumer;
import io.continualsft.trainer.train.AdapterTraining;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.LongPredicate;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The rewind on Kafka's mocks: a trainer that trained a stream, told to forget a subject whose
 * conversations are in its middle, revokes the versions they reached, republishes the version
 * before them, commits the offsets back to it in the same transaction, moves the release off
 * the revoked ones, and retrains to the adapter of a trainer that knew of the request from the
 * start, bit for bit (replay included); for an SFT adapter and for a KTO adapter, whose rated
 * turns carry the subject as examples do.
 */
@Timeout(300) // a safety net for a loop that never meets its stop condition
class ErasureRewindTest {
  private static final String SUBJECT = "person-9";
  private final InMemorySchemaRegistry registry = new InMemorySchemaRegistry();
  private final AvroSerializer<org.apache.avro.generic.GenericContainer> serializer =
      new AvroSerializer<>(registry, false);
  private boolean kto;
  private int n;

  /** The input partition: the examples topic, or the preference examples topic for KTO. */
  private TopicPartition in() {
    return kto ? KtoTrainerServiceTest.IN : TrainerServiceTest.IN;
  }

  private LogConsumer<byte[], byte[]> input(List<Integer> theirs) {
    LogConsumer<byte[], byte[]> consumer = TrainerServiceTest.consumer();
    consumer.createTopic(KtoTrainerServiceTest.PREFERENCES, 1);
    for (int i = 0; i < n; i++) {
      String subject = theirs.contains(i) ? SUBJECT : "p-" + i;
      org.apache.avro.generic.GenericContainer record;
      if (kto) {
        record = io.continualsft.avro.PreferenceExample.newBuilder(
            KtoTrainerServiceTest.preference("c-" + i, i, i % 2 == 0)).setSubject(subject)
            .build();
      } else {
        SftExample e = TrainerServiceTest.example("c-" + i, i);
        e.setSubject(subject);
        record = e;
      }
      consumer.append(in(), ("c-" + i).getBytes(StandardCharsets.UTF_8),
          serializer.serialize(in().topic(), record), 0);
    }
    return consumer;
  }

  /** The checkpoints and manifests {@code producer} wrote, as the topic would hold them. */
  private static CheckpointSource checkpointsOf(MockProducer<String, Object> producer) {
    return new CheckpointSource() {
      @Override
      public Optional<Checkpoint> newest(String adapter, LongPredicate versions) {
        return TrainerServiceTest.checkpointsOf(List.of(producer)).newest(adapter, versions);
      }

      @Override
      public SortedMap<Long, CheckpointManifest> manifests(String adapter) {
        SortedMap<Long, CheckpointManifest> out = new TreeMap<>();
        for (CheckpointRecord r : TrainerServiceTest.checkpointRecords(producer)) {
          if (r.getAdapter().equals(adapter) && r.getPayload() instanceof CheckpointManifest m) {
            out.put(r.getVersion(), m);
          }
        }
        return out;
      }
    };
  }

  /** Hands {@code request} over at start ({@code known}) or once {@code when} holds. */
  private static ErasureFeed feed(ErasureRequest request, boolean known,
      java.util.function.BooleanSupplier when) {
    return new ErasureFeed() {
      private boolean sent = known;

      @Override
      public List<ErasureRequest> readToEnd() {
        return known ? List.of(request) : List.of();
      }

      @Override
      public List<ErasureRequest> poll() {
        if (sent || !when.getAsBoolean()) {
          return List.of();
        }
        sent = true;
        return List.of(request);
      }
    };
  }

  private TrainerService service(LogConsumer<byte[], byte[]> consumer,
      MockProducer<String, Object> producer, LogConsumer<byte[], byte[]> replay,
      ErasureFeed erasures) {
    TrainerSettings s = (kto ? KtoTrainerServiceTest.settings() : TrainerServiceTest.settings())
        .toBuilder().set(TrainerConfig.REPLAY_FRACTION, 0.25)
        .set(TrainerConfig.RELEASE_POLICY, TrainerSettings.ReleasePolicy.EVERY_CANDIDATE)
        .set(TrainerConfig.ERASURE_BATCH_WINDOW, 0).build();
    AdapterTraining training = AdapterTraining.open(s, NDManager.newBaseManager());
    return new TrainerService(s, new TrainerService.Clients(consumer, producer,
        TrainerWiring.inputRecords(KtoTrainerServiceTest.PREFERENCES, registry),
        checkpointsOf(producer),
        TrainerServiceTest.releasesOf(producer),
        new ExampleLog(replay, java.time.Duration.ofSeconds(5)), erasures), training, IDENTITY,
        new TrainerMetrics(new SimpleMeterRegistry()), TrainerServiceTest.CLOCK, List.of());
  }

  @ParameterizedTest(name = "kto={0}")
  @ValueSource(booleans = {false, true})
  void aRewindRevokesRepublishesCommitsTheOffsetsBackAndRetrainsToTheFreshRunsAdapter(
      boolean kto) {
    this.kto = kto;
    // 48 examples; for KTO one more when that makes the trained ones odd, so that no last turn
    // waits for a partner (KTO's steps are pairs).
    n = 48;
    while (kto && (n - java.util.stream.IntStream.range(0, n)
        .filter(i -> ExampleAdmission.heldOut("c-" + i, 0.25)).count()) % 2 == 1) {
      n++;
    }
    int N = n;
    List<Integer> theirs = List.of(20, 33);
    ErasureRequest request = ErasureRequest.newBuilder().setId("req-1").setSubject(SUBJECT)
        .setRequestedBy("test").setRequestedAt(Instant.EPOCH).build();
    long heldOut = java.util.stream.IntStream.range(0, N)
        .filter(i -> ExampleAdmission.heldOut("c-" + i, 0.25)).count();
    long theirsTrained = theirs.stream().filter(i -> !ExampleAdmission.heldOut("c-" + i, 0.25))
        .count();
    assertThat(theirsTrained).as("the subject's conversations train").isEqualTo(2);
    long all = N - heldOut;

    MockProducer<String, Object> forgetting = TrainerServiceTest.producer();
    List<Published> published = new CopyOnWriteArrayList<>();
    LogConsumer<byte[], byte[]> in = input(theirs);
    java.util.concurrent.atomic.AtomicBoolean requested =
        new java.util.concurrent.atomic.AtomicBoolean();
    try (TrainerService service = service(in, forgetting, input(theirs),
        feed(request, false, () -> {
          requested.set(!published.isEmpty() && published.getLast().examplesTrained() == all);
          return requested.get();
        }))) {
      service.onPublished(published::add);
      // Once the request is in (on the way up, a count can pass through the one after it).
      service.run(() -> requested.get() && !published.isEmpty()
          && published.getLast().examplesTrained() == all - theirsTrained);
    }
    MockProducer<String, Object> fresh = TrainerServiceTest.producer();
    try (TrainerService service = service(input(theirs), fresh, input(theirs),
        feed(request, true, () -> false))) {
      List<Published> p = new CopyOnWriteArrayList<>();
      service.onPublished(p::add);
      service.run(() -> !p.isEmpty() && p.getLast().examplesTrained() == all - theirsTrained);
    }

    // The versions the subject reached are revoked by the version the trainer went back to.
    SortedMap<Long, CheckpointManifest> manifests = checkpointsOf(forgetting)
        .manifests("default");
    List<Long> revoked = manifests.values().stream().flatMap(m -> m.getRevokes().stream())
        .toList();
    long rewindVersion = manifests.entrySet().stream()
        .filter(e -> !e.getValue().getRevokes().isEmpty()).findFirst().orElseThrow().getKey();
    CheckpointManifest rewind = manifests.get(rewindVersion);
    long firstReached = revoked.getFirst();
    assertThat(rewind.getParentVersion()).isEqualTo(firstReached - 1);
    assertThat(revoked).isEqualTo(java.util.stream.LongStream.range(firstReached, rewindVersion)
        .boxed().toList());
    assertThat(manifests.get(firstReached).getLineage())
        .anyMatch(e -> SUBJECT.equals(e.getSubject()));
    assertThat(manifests.get(firstReached - 1).getLineage())
        .noneMatch(e -> SUBJECT.equals(e.getSubject()));
    assertThat(rewind.getSourceOffsets().getFirst().getOffset())
        .isEqualTo(manifests.get(firstReached - 1).getSourceOffsets().getFirst().getOffset());
    assertThat(rewind.getRevokeReason()).isEqualTo("erasure requests req-1");
    assertThat(rewind.getErasuresThrough()).isEqualTo(1);
    // ... and the group's offsets went back to it in the same transaction.
    List<Long> committed = new ArrayList<>();
    for (var offsets : forgetting.consumerGroupOffsetsHistory()) {
      offsets.values().forEach(m -> committed.add(m.get(in()).offset()));
    }
    assertThat(committed).contains(rewind.getSourceOffsets().getFirst().getOffset());
    OffsetAndMetadata last = forgetting.consumerGroupOffsetsHistory().getLast().values()
        .iterator().next().get(in());
    assertThat(last.offset()).isEqualTo(N);

    // Serving moved off the revoked release to the newest clean one.
    AdapterRelease moved = TrainerServiceTest.releases(forgetting).stream()
        .filter(r -> r.getDecision() == ReleaseDecision.REVOKED).findFirst().orElseThrow();
    assertThat(moved.getVersion()).isEqualTo(firstReached - 1);
    assertThat(moved.getRevoked()).isEqualTo(revoked);
    assertThat(TrainerServiceTest.releases(forgetting).getLast().getVersion())
        .isGreaterThan(rewindVersion);

    // Bit for bit the fresh run's.
    Checkpoint end = TrainerServiceTest.newest(TrainerServiceTest.checkpointRecords(forgetting),
        "default").orElseThrow();
    Checkpoint expected = TrainerServiceTest.newest(TrainerServiceTest.checkpointRecords(fresh),
        "default").orElseThrow();
    assertThat(end.manifest().getLineage()).noneMatch(e -> SUBJECT.equals(e.getSubject()));
    assertThat(end.manifest().getStep()).isEqualTo(expected.manifest().getStep());
    assertThat(end.files().get(Checkpoint.ADAPTER_WEIGHTS))
        .isEqualTo(expected.files().get(Checkpoint.ADAPTER_WEIGHTS));
    assertThat(end.files().get(Checkpoint.OPTIMIZER))
        .isEqualTo(expected.files().get(Checkpoint.OPTIMIZER));
  }
}
