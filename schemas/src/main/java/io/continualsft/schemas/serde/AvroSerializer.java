package io.continualsft.schemas.serde;

import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.registry.SchemaResolver;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericContainer;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DatumWriter;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Writes Avro records (generated classes or {@code GenericRecord}s) in the Confluent wire format.
 * The subject is the topic name strategy's: {@code <topic>-value}, or {@code <topic>-key} for keys.
 * With auto-registration on, a schema not yet under the subject is registered; with it off, it
 * must already be there.
 */
public final class AvroSerializer<T extends GenericContainer> implements Serializer<T> {
  private SchemaResolver registry;
  private SchemaRegistryClient ownedClient;
  private boolean isKey;
  private final Map<Schema, DatumWriter<Object>> writers = new ConcurrentHashMap<>();

  /** For Kafka's reflective construction: {@link #configure} builds the registry client. */
  public AvroSerializer() {}

  /** Shares {@code registry} (and its caches); does not close it. */
  public AvroSerializer(SchemaResolver registry, boolean isKey) {
    this.registry = registry;
    this.isKey = isKey;
  }

  @Override
  public void configure(Map<String, ?> configs, boolean isKey) {
    this.isKey = isKey;
    if (registry == null) {
      ownedClient = new SchemaRegistryClient(SchemaRegistryConfig.fromMap(configs));
      registry = ownedClient;
    }
  }

  @Override
  public byte[] serialize(String topic, T record) {
    if (record == null) {
      return null;
    }
    if (registry == null) {
      throw new IllegalStateException("AvroSerializer used before configure()");
    }
    Schema schema = record.getSchema();
    String subject = Subjects.topicName(topic, isKey);
    int id = registry.idFor(subject, schema);
    DatumWriter<Object> writer = writers.computeIfAbsent(schema, s -> writerFor(record, s));
    ByteArrayOutputStream out = new ByteArrayOutputStream(256);
    ByteBuffer header = ByteBuffer.allocate(WireFormat.HEADER_SIZE);
    WireFormat.writeHeader(header, id);
    out.writeBytes(header.array());
    BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(out, null);
    try {
      writer.write(record, encoder);
      encoder.flush();
    } catch (IOException | RuntimeException e) {
      throw new SerializationException(
          "could not encode a " + schema.getFullName() + " for topic " + topic + ": " + e.getMessage(),
          e);
    }
    return out.toByteArray();
  }

  @SuppressWarnings("unchecked")
  private static DatumWriter<Object> writerFor(GenericContainer record, Schema schema) {
    if (record instanceof SpecificRecord) {
      // The class's own model carries its logical-type conversions (timestamp-millis <-> Instant).
      return new SpecificDatumWriter<>(schema, SpecificData.getForClass(record.getClass()));
    }
    return (DatumWriter<Object>) (DatumWriter<?>) new GenericDatumWriter<>(schema, GenericData.get());
  }

  @Override
  public void close() {
    if (ownedClient != null) {
      ownedClient.close();
    }
  }
}
