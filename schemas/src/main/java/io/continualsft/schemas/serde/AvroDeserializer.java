package io.continualsft.schemas.serde;

import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.registry.SchemaResolver;
import java.io.IOException;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DatumReader;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Deserializer;

/**
 * Reads Confluent wire-format Avro. The writer schema is fetched by the id in the header and
 * resolved against this deserializer's reader schema (Avro schema resolution), so a reader on an
 * older schema reads a newer producer's records and the other way round, as far as the two schemas
 * are compatible.
 *
 * <p>Failures are typed: {@link BadRecordException} subclasses when the bytes are at fault (dead
 * letter them), {@link io.continualsft.schemas.registry.SchemaRegistryException} when the registry
 * is (retry; never dead-letter).
 *
 * <p>Hostile bytes are bounded before they allocate ({@link CheckedDecoder}): no declared length or
 * item count can exceed what the record's bytes hold, so the worst record costs its own size.
 */
public final class AvroDeserializer<T> implements Deserializer<T> {
  static {
    AvroLimits.apply();
  }

  private SchemaResolver registry;
  private SchemaRegistryClient ownedClient;
  private final Schema readerSchema; // null: read with the writer's schema
  private final GenericData model;
  private final Map<Integer, DatumReader<T>> readersByWriterId = new ConcurrentHashMap<>();

  private AvroDeserializer(SchemaResolver registry, Schema readerSchema, GenericData model) {
    this.registry = registry;
    this.readerSchema = readerSchema;
    this.model = model;
  }

  /** Reads into the generated class {@code type}; shares {@code registry}, does not close it. */
  public static <T extends SpecificRecord> AvroDeserializer<T> specific(
      Class<T> type, SchemaResolver registry) {
    SpecificData model = SpecificData.getForClass(type);
    return new AvroDeserializer<>(Objects.requireNonNull(registry), model.getSchema(type), model);
  }

  /**
   * Reads {@code GenericRecord}s with {@code readerSchema}, or with each record's writer schema
   * when it is null; shares {@code registry}, does not close it.
   */
  public static AvroDeserializer<GenericRecord> generic(
      Schema readerSchema, SchemaResolver registry) {
    return new AvroDeserializer<>(Objects.requireNonNull(registry), readerSchema, GenericData.get());
  }

  /** For configuration by Kafka: a specific reader whose registry client is built in configure. */
  public static <T extends SpecificRecord> AvroDeserializer<T> specific(Class<T> type) {
    SpecificData model = SpecificData.getForClass(type);
    return new AvroDeserializer<>(null, model.getSchema(type), model);
  }

  @Override
  public void configure(Map<String, ?> configs, boolean isKey) {
    if (registry == null) {
      ownedClient = new SchemaRegistryClient(SchemaRegistryConfig.fromMap(configs));
      registry = ownedClient;
    }
  }

  @Override
  public T deserialize(String topic, byte[] bytes) {
    if (bytes == null) {
      return null; // a tombstone stays a tombstone
    }
    if (registry == null) {
      throw new IllegalStateException("AvroDeserializer used before configure()");
    }
    int id = WireFormat.schemaId(bytes);
    DatumReader<T> reader = readersByWriterId.get(id);
    if (reader == null) {
      reader = readerFor(id, registry.schemaById(id));
      readersByWriterId.putIfAbsent(id, reader);
    }
    BinaryDecoder decoder =
        DecoderFactory.get()
            .binaryDecoder(bytes, WireFormat.HEADER_SIZE, bytes.length - WireFormat.HEADER_SIZE, null);
    T value;
    try {
      value = reader.read(null, new CheckedDecoder(decoder, bytes.length - WireFormat.HEADER_SIZE));
    } catch (BadRecordException e) {
      throw e; // already says what is wrong: invalid text, a size the body cannot hold
    } catch (IOException | RuntimeException e) {
      // Avro signals truncated or garbled input with EOFException, AvroRuntimeException,
      // IndexOutOfBounds and friends: all of them mean these bytes do not decode.
      throw new CorruptAvroException(
          "Avro body (" + (bytes.length - WireFormat.HEADER_SIZE) + " bytes) does not decode with"
              + " writer schema id " + id + ": " + e, e);
    }
    try {
      if (!decoder.isEnd()) {
        throw new CorruptAvroException(
            "Avro body has bytes left over after a complete record of writer schema id " + id, null);
      }
    } catch (IOException e) {
      throw new CorruptAvroException("could not check the end of the Avro body: " + e, e);
    }
    return value;
  }

  @SuppressWarnings("unchecked")
  private DatumReader<T> readerFor(int writerId, Schema writer) {
    Schema reader = readerSchema == null ? writer : readerSchema;
    if (readerSchema != null) {
      SchemaCompatibility.SchemaPairCompatibility compatibility =
          SchemaCompatibility.checkReaderWriterCompatibility(reader, writer);
      if (compatibility.getType() != SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE) {
        throw new IncompatibleWriterSchemaException(
            "writer schema id " + writerId + " (" + writer.getFullName() + ") cannot be read as "
                + reader.getFullName() + ": " + compatibility.getDescription());
      }
    }
    if (model instanceof SpecificData specific) {
      return new SpecificDatumReader<>(writer, reader, specific);
    }
    return (DatumReader<T>) new GenericDatumReader<GenericRecord>(writer, reader, model);
  }

  @Override
  public void close() {
    if (ownedClient != null) {
      ownedClient.close();
    }
  }
}
