package io.continualsft.streams.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.continualsft.chat.dataset.DatasetFile;
import io.continualsft.chat.dataset.DatasetFormat;
import io.continualsft.chat.dataset.DatasetRecords;
import io.continualsft.chat.dataset.ImportedConversation;
import io.continualsft.chat.dataset.InvalidRecordException;
import io.continualsft.chat.labels.AssistantLabeler;
import io.continualsft.chat.labels.ExampleLabeler;
import io.continualsft.chat.labels.LabelingSettings;
import io.continualsft.chat.labels.RejectedException;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "mask", mixinStandardHelpOptions = true,
    description = "Offline, no Kafka: renders, tokenizes and labels a JSONL file of conversations"
        + " exactly as the streams app would, one output line per input line.")
final class MaskCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(names = "--model", required = true, description = "Hugging Face model directory.")
  Path model;

  @Option(names = "--input", required = true, description = "Conversations in any shape"
      + " `produce` reads: JSONL or a JSON array, plain or gzip.")
  Path input;

  @Option(names = "--format", defaultValue = "auto", description = "As for produce: auto,"
      + " conversations, messages, sharegpt, openai or alpaca (default: ${DEFAULT-VALUE}).")
  String format;

  @Option(names = "--reasoning", defaultValue = "train", description = "train or exclude an"
      + " assistant turn's reasoning (default: ${DEFAULT-VALUE}).")
  String reasoning;

  @Option(names = "--output", required = true, description = "JSONL: {\"id\", \"input_ids\", \"labels\"} or {\"id\", \"error\": {\"reason\", \"detail\"}} per line.")
  Path output;

  @Option(names = "--policy", defaultValue = "all", description = "all or last (default: ${DEFAULT-VALUE}).")
  String policy;

  @Option(names = "--max-length", defaultValue = "4096", description = "Default: ${DEFAULT-VALUE}.")
  int maxLength;

  @Option(names = "--truncation", defaultValue = "drop", description = "drop or keep-start (default: ${DEFAULT-VALUE}).")
  String truncation;

  @Option(names = "--chat-template-name", defaultValue = "default", description = "For a list of named templates.")
  String templateName;

  @Option(names = "--allow-special-tokens-in-content", description = "Do not reject content that contains a special token's text.")
  boolean allowSpecialTokens;

  @Override
  public Integer call() throws Exception {
    if (System.getProperty("ai.djl.offline") == null) {
      System.setProperty("ai.djl.offline", "true");
    }
    LabelingSettings settings = new LabelingSettings(
        LabelingSettings.TrainPolicy.parse(policy), maxLength,
        LabelingSettings.Truncation.parse(truncation),
        LabelingSettings.DEFAULTS.maxContentChars(), LabelingSettings.DEFAULTS.maxTurns(),
        allowSpecialTokens, null, LabelingSettings.Reasoning.parse(reasoning));
    DatasetFormat datasetFormat = DatasetFormat.parse(format);
    int ok = 0;
    int rejected = 0;
    try (ExampleLabeler labeler = ExampleLabeler.open(model, templateName, settings,
            Clock.systemUTC());
        DatasetFile in = DatasetFile.open(input);
        BufferedWriter out = Files.newBufferedWriter(output, StandardCharsets.UTF_8)) {
      DatasetFile.Entry entry;
      while ((entry = in.next()) != null) {
        ObjectNode result = JSON.createObjectNode();
        ImportedConversation conversation;
        try {
          conversation = DatasetRecords.convert(entry.record(), datasetFormat);
        } catch (InvalidRecordException e) {
          result.putNull("id");
          error(result, "INVALID_INPUT", "line " + entry.line() + ": " + e.getMessage());
          out.write(result.toString());
          out.newLine();
          rejected++;
          continue;
        }
        result.put("id", conversation.id());
        try {
          AssistantLabeler.Labeled labeled = labeler.label(
              conversation.toAvro("default", Instant.EPOCH));
          var ids = result.putArray("input_ids");
          for (int id : labeled.inputIds()) {
            ids.add(id);
          }
          var labels = result.putArray("labels");
          for (int label : labeled.labels()) {
            labels.add(label);
          }
          ok++;
        } catch (RejectedException e) {
          error(result, e.reason().name(), e.detail());
          rejected++;
        }
        out.write(result.toString());
        out.newLine();
      }
    }
    System.err.printf("mask: %d labelled, %d rejected, written to %s%n", ok, rejected, output);
    return 0;
  }

  private static void error(ObjectNode result, String reason, String detail) {
    ObjectNode error = result.putObject("error");
    error.put("reason", reason);
    error.put("detail", detail);
  }
}
