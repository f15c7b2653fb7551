package io.continualsft.trainer.release;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.continualsft.chat.TestModels;
import io.continualsft.chat.labels.LabelContract;
import io.continualsft.trainer.model.Batch;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RetentionSetTest {
  static final String OK = "{\"id\": \"k-%d\", \"messages\": [{\"role\": \"user\", \"content\":"
      + " \"Note %d.\"}, {\"role\": \"assistant\", \"content\": \"OK, noted.\"}]}";

  @TempDir Path dir;

  private List<Batch.Example> read(List<String> lines, int max) throws Exception {
    Path file = Files.write(dir.resolve("keep.jsonl"), lines);
    return RetentionSet.fromFile(file, TestModels.qwen3Dir(), 256, max, "retention.file",
        "retention.max-examples");
  }

  @Test
  void conversationsAreLabelledAssistantOnlyWithTheModelsTemplate() throws Exception {
    List<Batch.Example> set = read(List.of(String.format(OK, 1, 1), "", String.format(OK, 2, 2)),
        10);
    assertThat(set).hasSize(2);
    for (Batch.Example e : set) {
      assertThat(e.ids()).hasSameSizeAs(e.labels());
      long trained = java.util.Arrays.stream(e.labels())
          .filter(l -> l != LabelContract.IGNORE_INDEX).count();
      // Qwen3's template opens the last assistant turn with an empty think block, which is the
      // assistant's: "<think>\n\n</think>\n\n" (4 tokens), "OK, noted." (4), "<|im_end|>".
      assertThat(trained).isEqualTo(9);
    }
  }

  @Test
  void aBadLineStopsTheTrainerNamingTheFileAndLine() {
    assertThatThrownBy(() -> read(List.of(String.format(OK, 1, 1), "{\"id\": 2}"), 10))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("retention.file").hasMessageContaining("line 2");
    assertThatThrownBy(() -> read(List.of(String.format(OK, 1, 1),
        "{\"id\": \"q\", \"messages\": [{\"role\": \"user\", \"content\": \"no answer\"}]}"), 10))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("keep.jsonl line 2").hasMessageContaining("NO_ASSISTANT_MESSAGE");
  }

  @Test
  void aSetLargerThanTheBoundIsRefusedNamingTheKey() {
    assertThatThrownBy(() -> read(List.of(String.format(OK, 1, 1), String.format(OK, 2, 2),
        String.format(OK, 3, 3)), 2))
        .isInstanceOf(ConfigException.class).hasMessageContaining("retention.max-examples");
    assertThatThrownBy(() -> read(List.of(""), 2))
        .isInstanceOf(ConfigException.class).hasMessageContaining("has no conversation");
  }
}
