package io.continualsft.trainer.safetensors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The reader accepts exactly the headers the {@code safetensors} package accepts: each file in
 * resources/safetensors-headers was written by fixtures-gen/safetensors_headers.py, which
 * recorded whether safetensors 0.8 opens it (expected.json). A file Python refuses must not be
 * restored here, or serving could not load what {@code pull} delivers.
 */
class SafetensorsHeaderTest {
  private static byte[] bytes(String file) throws IOException {
    try (InputStream in = SafetensorsHeaderTest.class.getResourceAsStream(
        "/safetensors-headers/" + file)) {
      assertThat(in).as(file).isNotNull();
      return in.readAllBytes();
    }
  }

  @Test
  void acceptsWhatTheSafetensorsPackageAcceptsAndNothingElse() throws IOException {
    JsonNode expected = new ObjectMapper().readTree(bytes("expected.json"));
    assertThat(expected.size()).isEqualTo(20);
    List<String> disagreements = new ArrayList<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = expected.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> c = it.next();
      boolean pythonAccepts = c.getValue().get("accepted").asBoolean();
      String java;
      try (Safetensors.Reader reader = Safetensors.read(c.getKey(),
          bytes(c.getKey() + ".safetensors"))) {
        reader.tensors();
        java = "ok";
      } catch (SafetensorsException e) {
        java = e.getMessage();
      }
      if (pythonAccepts != java.equals("ok")) {
        disagreements.add(c.getKey() + ": python " + c.getValue().get("python").asText()
            + "; java " + java);
      }
    }
    assertThat(disagreements).isEmpty();
  }

  @Test
  void aShapeWhoseProductWrapsToTheRealByteCountIsRefusedByName() throws IOException {
    byte[] file = bytes("shape-product-overflows.safetensors");
    assertThatThrownBy(() -> Safetensors.read("adapter_model.safetensors", file))
        .isInstanceOf(SafetensorsException.class)
        .hasMessageContaining("adapter_model.safetensors")
        .hasMessageContaining("tensor a's shape [4611686018427387908] in F32 needs more bytes"
            + " than 64 bits count");
  }

  @Test
  void theValidFilesReadBackTheirValues() throws IOException {
    try (Safetensors.Reader reader = Safetensors.read("valid", bytes("valid.safetensors"))) {
      assertThat(reader.readFloats("a")).containsExactly(0f, 0.5f, 1f, 1.5f);
      assertThat(reader.readFloats("b")).containsExactly(2f, 2.5f, 3f);
      assertThat(reader.metadata()).containsEntry("format", "pt");
    }
    try (Safetensors.Reader reader = Safetensors.read("scalar",
        bytes("valid-scalar-and-empty.safetensors"))) {
      assertThat(reader.readFloats("s")).containsExactly(0f);
      assertThat(reader.readFloats("e")).isEmpty();
    }
  }
}
