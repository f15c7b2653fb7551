package io.continualsft.schemas.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.avro.Schema;

/**
 * The text of a schema as it is registered: the schema as its {@code .avsc} file declares it,
 * without the properties Avro's Java code generator adds ({@code "avro.java.string": "String"}
 * on every string when classes are generated with {@code stringType=String}). Those properties
 * are meaningless to any other language, and a registry matches a lookup against what is stored:
 * a Python, Go or .NET client looking up the {@code .avsc} text finds a schema registered in this
 * form, and does not find one registered with the Java-only properties (HTTP 404, error 40403).
 */
public final class PortableSchemas {
  /** Properties only Avro's Java implementation reads. */
  private static final String JAVA_PREFIX = "avro.java.";
  private static final ObjectMapper JSON = new ObjectMapper();

  private PortableSchemas() {}

  /** {@code schema}'s JSON without Java-only properties. */
  public static String text(Schema schema) {
    try {
      JsonNode tree = JSON.readTree(schema.toString());
      return JSON.writeValueAsString(strip(tree));
    } catch (IOException e) {
      throw new UncheckedIOException("could not re-read Avro's own schema JSON", e);
    }
  }

  /** {@code schema} without Java-only properties, as a schema. */
  public static Schema of(Schema schema) {
    return new Schema.Parser().parse(text(schema));
  }

  private static JsonNode strip(JsonNode node) {
    if (node instanceof ObjectNode object) {
      object.properties().removeIf(e -> e.getKey().startsWith(JAVA_PREFIX));
      object.properties().forEach(e -> e.setValue(strip(e.getValue())));
      // {"type": "string"} left alone after stripping reads back as the primitive "string".
      if (object.size() == 1 && object.has("type") && object.get("type").isTextual()) {
        return object.get("type");
      }
      return object;
    }
    if (node instanceof ArrayNode array) {
      for (int i = 0; i < array.size(); i++) {
        array.set(i, strip(array.get(i)));
      }
    }
    return node;
  }
}
