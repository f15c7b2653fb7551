package io.continualsft.schemas.bench;

import io.continualsft.avro.Conversation;
import io.continualsft.schemas.Messages;
import io.continualsft.schemas.registry.SchemaResolver;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.schemas.serde.SingleSchemaResolver;
import io.continualsft.schemas.serde.WireFormat;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.specific.SpecificDatumReader;

/**
 * Not a test: what the strict UTF-8 check costs. Reads the same serialized conversations with
 * the project's deserializer (strict) and with Avro's own reader (which replaces bad bytes),
 * alternating rounds, and prints the ratio. Run from the schemas module:
 * {@code java -cp target/classes:target/test-classes:$(cat cp.txt) ...StrictUtf8Benchmark}.
 */
public final class StrictUtf8Benchmark {
  public static void main(String[] args) {
    SchemaResolver one = new SingleSchemaResolver(Conversation.getClassSchema());
    AvroSerializer<Conversation> serializer = new AvroSerializer<>(one, false);
    List<byte[]> records = new ArrayList<>();
    String english = "Please note that the quarterly report moved to Tuesday afternoon. ";
    String chinese = "请记住：明天下午三点开会，会议室在三楼。";
    for (int i = 0; i < 2000; i++) {
      String user = (i % 3 == 0 ? chinese : english).repeat(8 + i % 16);
      records.add(serializer.serialize("t", Conversation.newBuilder().setId("c-" + i)
          .setMessages(List.of(Messages.of("system", "You are a concise assistant.", null),
              Messages.of("user", user, null), Messages.of("assistant", "Noted. " + user, null)))
          .setCreatedAt(Instant.ofEpochMilli(0)).build()));
    }
    long bytes = records.stream().mapToLong(r -> r.length).sum();
    AvroDeserializer<Conversation> strict = AvroDeserializer.specific(Conversation.class, one);
    SpecificDatumReader<Conversation> plain = new SpecificDatumReader<>(Conversation.class);
    double[] strictRates = new double[7];
    double[] plainRates = new double[7];
    for (int round = 0; round < 7; round++) {
      long t0 = System.nanoTime();
      for (byte[] r : records) {
        strict.deserialize("t", r);
      }
      long t1 = System.nanoTime();
      BinaryDecoder decoder = null;
      for (byte[] r : records) {
        decoder = DecoderFactory.get().binaryDecoder(r, WireFormat.HEADER_SIZE,
            r.length - WireFormat.HEADER_SIZE, decoder);
        try {
          plain.read(null, decoder);
        } catch (java.io.IOException e) {
          throw new IllegalStateException(e);
        }
      }
      long t2 = System.nanoTime();
      strictRates[round] = bytes / ((t1 - t0) / 1e9) / 1e6;
      plainRates[round] = bytes / ((t2 - t1) / 1e9) / 1e6;
      System.out.printf("round %d: strict %.0f MB/s, Avro's reader %.0f MB/s, ratio %.2f%n", round,
          strictRates[round], plainRates[round], strictRates[round] / plainRates[round]);
    }
  }
}
