package io.continualsft.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.continualsft.avro.CheckpointRecord;
import io.continualsft.avro.Conversation;
import io.continualsft.avro.RejectionReason;
import io.continualsft.schemas.Messages;
import io.continualsft.schemas.registry.SchemaResolver;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.Test;

/**
 * Records whose declared sizes claim more than their bytes hold: each is CORRUPT_AVRO, refused
 * before anything of the declared size is allocated (a test heap of any size would otherwise
 * fail with OutOfMemoryError on the first two).
 */
class HostileAvroTest {
  private static final SchemaResolver CONVERSATIONS =
      new SingleSchemaResolver(Conversation.getClassSchema());

  private static byte[] record(WireRecords.BodyWriter body) {
    return WireRecords.of(1, body);
  }

  private static void assertCorrupt(SchemaResolver registry, byte[] bytes, String message) {
    assertThatThrownBy(() -> AvroDeserializer.specific(Conversation.class, registry)
        .deserialize("t", bytes))
        .isInstanceOf(CorruptAvroException.class)
        .hasMessageContaining(message)
        .satisfies(e -> assertThat(((BadRecordException) e).reason())
            .isEqualTo(RejectionReason.CORRUPT_AVRO));
  }

  @Test
  void anArrayClaimingTwoToTheThirtyFirstItemsIsRefusedBeforeAllocating() {
    byte[] bytes = record(e -> {
      e.writeString("x");
      e.writeString("default");
      e.writeLong(1L << 31); // the messages array's first block count
    });
    assertThat(bytes.length).isLessThan(40);
    assertCorrupt(CONVERSATIONS, bytes, "declares 2147483648 items");
  }

  @Test
  void aStringClaimingTwoGigabytesIsRefusedBeforeAllocating() {
    byte[] bytes = record(e -> e.writeLong(2_000_000_000L)); // the id's length
    assertThat(bytes).hasSize(10);
    assertCorrupt(CONVERSATIONS, bytes, "declares 2000000000 bytes");
  }

  @Test
  void aNegativeLengthIsCorrupt() {
    assertCorrupt(CONVERSATIONS, record(e -> e.writeLong(-5)), "declares -5 bytes");
  }

  @Test
  void manySmallBlocksCannotAddUpToMoreItemsThanTheRecordHasBytes() {
    // Each block claims few items, but together more than the body could hold.
    byte[] bytes = record(e -> {
      e.writeString("x");
      e.writeString("default");
      e.writeLong(30);
    });
    assertCorrupt(CONVERSATIONS, bytes, "items");
  }

  @Test
  void aMapClaimingMoreEntriesThanBytesIsRefused() {
    byte[] bytes = record(e -> {
      e.writeString("x");
      e.writeString("default");
      e.writeLong(0); // no messages
      e.writeIndex(0); // tools: null
      e.writeIndex(1); // metadata: a map
      e.writeLong(1_000_000); // its entries
    });
    assertCorrupt(CONVERSATIONS, bytes, "a map declares 1000000 items");
  }

  @Test
  void bytesFieldsAreBoundedToo() {
    SchemaResolver checkpoints = new SingleSchemaResolver(CheckpointRecord.getClassSchema());
    byte[] bytes = record(e -> {
      e.writeString("default");
      e.writeLong(1);
      e.writeIndex(0); // a chunk
      e.writeString("adapter_model.safetensors");
      e.writeInt(0);
      e.writeLong(0);
      e.writeLong(1L << 40); // data's length
    });
    assertThatThrownBy(() -> AvroDeserializer.specific(CheckpointRecord.class, checkpoints)
        .deserialize("t", bytes))
        .isInstanceOf(CorruptAvroException.class)
        .hasMessageContaining("a bytes field declares 1099511627776 bytes");
  }

  @Test
  void theGenericReaderIsBoundedLikeTheSpecificOne() {
    byte[] bytes = record(e -> {
      e.writeString("x");
      e.writeString("default");
      e.writeLong(1L << 31);
    });
    assertThatThrownBy(() -> AvroDeserializer.generic((Schema) null, CONVERSATIONS)
        .deserialize("t", bytes))
        .isInstanceOf(CorruptAvroException.class);
  }

  @Test
  void recordsWithinTheirBoundsReadBackExactly() {
    Conversation c = Conversation.newBuilder().setId("c1").setAdapter("a")
        .setMessages(List.of(Messages.of("user", "q".repeat(1000), null),
            Messages.of("assistant", "", true)))
        .setTools("[]")
        .setMetadata(Map.of("k", "v", "", ""))
        .setCreatedAt(Instant.ofEpochMilli(1234)).build();
    byte[] bytes = new AvroSerializer<Conversation>(CONVERSATIONS, false).serialize("t", c);
    assertThat(AvroDeserializer.specific(Conversation.class, CONVERSATIONS).deserialize("t", bytes))
        .isEqualTo(c);
    GenericRecord generic = AvroDeserializer.generic((Schema) null, CONVERSATIONS)
        .deserialize("t", bytes);
    assertThat((Map<?, ?>) generic.get("metadata")).hasSize(2);
  }

  @Test
  void avrosOwnLimitsAreSetUnlessTheOperatorSetThem() {
    AvroDeserializer.specific(Conversation.class, CONVERSATIONS); // initializes the class
    assertThat(System.getProperty("org.apache.avro.limits.string.maxLength"))
        .isEqualTo(String.valueOf(AvroLimits.MAX_LENGTH));
    assertThat(System.getProperty("org.apache.avro.limits.collectionItems.maxLength"))
        .isEqualTo(String.valueOf(AvroLimits.MAX_COLLECTION_ITEMS));
  }
}
