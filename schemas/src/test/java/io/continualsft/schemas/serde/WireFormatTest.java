package io.continualsft.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.continualsft.avro.RejectionReason;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class WireFormatTest {

  @Test
  void readsTheBigEndianSchemaIdAfterTheMagicByte() {
    byte[] bytes = {0, 0x01, 0x02, 0x03, 0x04, 42};
    assertThat(WireFormat.schemaId(bytes)).isEqualTo(0x01020304);
  }

  @Test
  void writesMagicByteAndBigEndianId() {
    ByteBuffer buffer = ByteBuffer.allocate(WireFormat.HEADER_SIZE);
    WireFormat.writeHeader(buffer, 0x0A0B0C0D);
    assertThat(buffer.array()).containsExactly(0, 0x0A, 0x0B, 0x0C, 0x0D);
  }

  @Test
  void aHeaderWithoutBodyIsStillAHeader() {
    // An empty Avro body is legal for a record with no fields; decoding decides the rest.
    assertThat(WireFormat.schemaId(new byte[] {0, 0, 0, 0, 9})).isEqualTo(9);
  }

  @Test
  void emptyAndShortInputsAreNotTheWireFormat() {
    assertThatThrownBy(() -> WireFormat.schemaId(new byte[0]))
        .isInstanceOf(NotWireFormatException.class)
        .hasMessageContaining("record is 0 bytes");
    assertThatThrownBy(() -> WireFormat.schemaId(new byte[] {0, 0, 0, 1}))
        .isInstanceOf(NotWireFormatException.class)
        .hasMessageContaining("record is 4 bytes");
  }

  @Test
  void anyOtherMagicByteIsNotTheWireFormat() {
    assertThatThrownBy(() -> WireFormat.schemaId(new byte[] {1, 0, 0, 0, 1, 2}))
        .isInstanceOf(NotWireFormatException.class)
        .hasMessageContaining("first byte is 1")
        .satisfies(e -> assertThat(((BadRecordException) e).reason())
            .isEqualTo(RejectionReason.NOT_WIRE_FORMAT));
    assertThatThrownBy(() -> WireFormat.schemaId(new byte[] {(byte) 0xff, 0, 0, 0, 1}))
        .hasMessageContaining("first byte is 255");
  }
}
