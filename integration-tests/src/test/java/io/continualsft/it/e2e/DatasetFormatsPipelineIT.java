package io.continualsft.it.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.continualsft.avro.Conversation;
import io.continualsft.avro.Rejection;
import io.continualsft.avro.RejectionReason;
import io.continualsft.avro.SftExample;
import io.continualsft.chat.dataset.DatasetFormat;
import io.continualsft.it.support.Clients;
import io.continualsft.it.support.KafkaCluster;
import io.continualsft.it.support.RealServices;
import io.continualsft.it.support.SampleRecords;
import io.continualsft.it.support.SchemaRegistry;
import io.continualsft.it.support.TestConfigs;
import io.continualsft.it.support.TestDirs;
import io.continualsft.schemas.registry.PortableSchemas;
import io.continualsft.schemas.registry.SchemaRegistryClient;
import io.continualsft.schemas.registry.SchemaRegistryConfig;
import io.continualsft.schemas.serde.AvroDeserializer;
import io.continualsft.schemas.serde.AvroSerializer;
import io.continualsft.streams.StreamsApp;
import io.continualsft.streams.config.StreamsAppConfig;
import io.continualsft.streams.produce.ConversationFileProducer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.zip.GZIPOutputStream;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

/**
 * The schema's second version rolled through a running pipeline, and one file per dataset format
 * through it: a producer still on version 1 (no tool fields) writes first and registers it; the
 * streams app starts; {@code produce} then sends the seed's JSONL, Hugging Face messages as a
 * gzipped JSON array, gzipped ShareGPT lines, OpenAI logs and an Alpaca JSON array, registering
 * version 2 under the registry's BACKWARD rule. Every conversation of both versions becomes an
 * example but one the Qwen3 template refuses (content null beside a call, as OpenAI logs it),
 * the malformed tool conversations become dead letters with their own reasons, and the records
 * no format can carry are reported with their line numbers.
 */
@RealServices
class DatasetFormatsPipelineIT {
  private static final int TOOL_CALL = 151657; // Qwen3's <tool_call>
  private static final int TOOL_RESPONSE = 151665; // Qwen3's <tool_response>
  private static final int THINK = 151667; // Qwen3's <think>

  @Test
  void everyFormatAndBothSchemaVersionsBecomeExamples(KafkaCluster kafka,
      SchemaRegistry registry) throws Exception {
    String s = UUID.randomUUID().toString().substring(0, 8);
    String in = "conversations-" + s;
    String out = "examples-" + s;
    String dlq = "dead-letters-" + s;
    kafka.createTopics(1, in, out, dlq);
    Path dir = TestDirs.fresh("dataset-formats");

    Schema v1 = historic("Conversation-v1.avsc");
    try (SchemaRegistryClient client = registry.client(true)) {
      Clients.produce(kafka, in, new AvroSerializer<GenericRecord>(client, false),
          List.of("v1-a", "v1-b"), List.of(SampleRecords.genericConversation(v1, "v1-a"),
              SampleRecords.genericConversation(v1, "v1-b")));
    }
    Map<String, String> config = TestConfigs.streamsApp(kafka, registry, "formats-" + s, in, out,
        dlq, Path.of(System.getProperty("qwen3.dir")), dir.resolve("state"));
    Map<String, ConversationFileProducer.Result> results = new LinkedHashMap<>();
    try (StreamsApp app = StreamsApp.start(StreamsAppConfig.of(config));
        ConversationFileProducer producer = ConversationFileProducer.open(
            kafka.bootstrapServers(), SchemaRegistryConfig.fromMap(Map.of(
                SchemaRegistryConfig.URL, registry.url(),
                SchemaRegistryConfig.AUTO_REGISTER_SCHEMAS, "true")), new LinkedHashMap<>())) {
      results.put("seed", producer.send(write(dir, "seed.jsonl", false, SEED),
          DatasetFormat.CONVERSATIONS, in, "default", (a, r, t) -> { }));
      results.put("messages", producer.send(write(dir, "messages.json.gz", true, MESSAGES),
          DatasetFormat.AUTO, in, "default", (a, r, t) -> { }));
      results.put("sharegpt", producer.send(write(dir, "sharegpt.jsonl.gz", true, SHAREGPT),
          DatasetFormat.SHAREGPT, in, "default", (a, r, t) -> { }));
      results.put("openai", producer.send(write(dir, "openai.jsonl", false, OPENAI),
          DatasetFormat.OPENAI, in, "default", (a, r, t) -> { }));
      results.put("alpaca", producer.send(write(dir, "alpaca.json", false, ALPACA),
          DatasetFormat.AUTO, in, "default", (a, r, t) -> { }));
      results.put("malformed", producer.send(write(dir, "malformed.jsonl", false, MALFORMED),
          DatasetFormat.MESSAGES, in, "default", (a, r, t) -> { }));

      assertThat(results.values()).allSatisfy(r -> assertThat(r.failure()).isNull());
      assertThat(results.get("seed").skipped()).containsExactly(
          new ConversationFileProducer.SkippedLine(3, "blank"),
          new ConversationFileProducer.SkippedLine(4, "not a JSON object"));
      assertThat(results.get("openai").skipped()).containsExactly(
          new ConversationFileProducer.SkippedLine(3, "the reply was cut off (finish_reason"
              + " length); trained, it would teach the model to stop mid-reply"));
      assertThat(results.get("sharegpt").skipped()).containsExactly(
          new ConversationFileProducer.SkippedLine(3, "turn 1 is from \"narrator\"; ShareGPT"
              + " speakers are human, gpt, system, tool, observation and function_call"));
      assertThat(results.values()).extracting(ConversationFileProducer.Result::sent)
          .containsExactly(2L, 2L, 2L, 2L, 2L, 3L);

      try (SchemaRegistryClient client = registry.client(false)) {
        List<ConsumerRecord<String, SftExample>> examples = Clients.consume(kafka, out,
            AvroDeserializer.specific(SftExample.class, client), 11, Duration.ofSeconds(90));
        assertThat(examples).extracting(ConsumerRecord::key).containsExactly(
            "v1-a", "v1-b", "seed-1", "seed-2", "hf-tools", "hf-reasoning", "sg-1", "sg-tools",
            "chatcmpl-1", "alpaca-1", "alpaca-2");
        Map<String, SftExample> byId = new LinkedHashMap<>();
        examples.forEach(r -> byId.put(r.key(), r.value()));
        // The tool call is trained, the tool result is not; the reasoning is trained (default).
        for (String id : List.of("hf-tools", "sg-tools")) {
          assertThat(byId.get(id).getLabels()).as(id).contains(TOOL_CALL)
              .doesNotContain(TOOL_RESPONSE);
        }
        assertThat(byId.get("hf-tools").getInputIds()).contains(TOOL_RESPONSE);
        assertThat(byId.get("hf-reasoning").getLabels()).contains(THINK);

        List<ConsumerRecord<String, Rejection>> dead = Clients.consume(kafka, dlq,
            AvroDeserializer.specific(Rejection.class, client), 4, Duration.ofSeconds(60));
        // OpenAI logs a call-only reply with content null, which Qwen3's template refuses (as
        // it does under transformers); the other three are malformed.
        assertThat(dead).extracting(r -> r.value().getReason()).containsExactly(
            RejectionReason.TEMPLATE_REFUSED, RejectionReason.TOOL_ARGUMENTS_NOT_OBJECT,
            RejectionReason.TOOL_RESULT_WITHOUT_CALL, RejectionReason.TOOL_CALL_NOT_ASSISTANT);
        assertThat(dead).extracting(ConsumerRecord::key).containsExactly("chatcmpl-2",
            "bad-arguments", "orphan-result", "user-calls");

        String subject = in + "-value";
        assertThat(client.schemaByVersion(subject, "1").orElseThrow().schema()).as("v1")
            .isEqualTo(v1);
        assertThat(client.schemaByVersion(subject, "2").orElseThrow().schema()).as("v2")
            .isEqualTo(PortableSchemas.of(Conversation.getClassSchema()));
        assertThat(client.schemaByVersion(subject, "3")).as("nothing else registered").isEmpty();
      }
    }
  }

  private static Schema historic(String file) throws IOException {
    try (InputStream s = Conversation.class.getResourceAsStream("/schema-history/" + file)) {
      return new Schema.Parser().parse(s);
    }
  }

  private static Path write(Path dir, String name, boolean gzip, String text) throws IOException {
    Path file = dir.resolve(name);
    try (OutputStream o = gzip ? new GZIPOutputStream(Files.newOutputStream(file))
        : Files.newOutputStream(file)) {
      o.write(text.getBytes(StandardCharsets.UTF_8));
    }
    return file;
  }

  private static final String TOOLS = "[{\"type\": \"function\", \"function\": {\"name\":"
      + " \"get_weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\":"
      + " {\"type\": \"string\"}}}}}]";

  static final String SEED = """
      {"id": "seed-1", "conversations": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
      {"id": "seed-2", "conversations": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}

      ["not", "a", "conversation"]
      """;

  static final String MESSAGES = """
      [
        {"id": "hf-tools", "tools": TOOLS, "messages": [
          {"role": "user", "content": "Weather in Paris?"},
          {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
          {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": "18 C"},
          {"role": "assistant", "content": "18 °C in Paris."}]},
        {"id": "hf-reasoning", "messages": [
          {"role": "user", "content": "17 * 3?"},
          {"role": "assistant", "reasoning_content": "10 * 3 + 7 * 3 = 51", "content": "51"}]}
      ]
      """.replace("TOOLS", TOOLS);

  static final String SHAREGPT = """
      {"id": "sg-1", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello there."}]}
      {"id": "sg-tools", "tools": "TOOLS_TEXT", "conversations": [{"from": "human", "value": "Weather in Rome?"}, {"from": "function_call", "value": "{\\"name\\": \\"get_weather\\", \\"arguments\\": {\\"city\\": \\"Rome\\"}}"}, {"from": "observation", "value": "21 C"}, {"from": "gpt", "value": "21 °C."}]}
      {"id": "sg-bad", "conversations": [{"from": "human", "value": "Hi"}, {"from": "narrator", "value": "..."}]}
      """.replace("TOOLS_TEXT", TOOLS.replace("\"", "\\\""));

  static final String OPENAI = """
      {"request": {"model": "gpt-4o-mini", "messages": [{"role": "developer", "content": "Be kind."}, {"role": "user", "content": "Thanks!"}]}, "response": {"id": "chatcmpl-1", "choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": "You're welcome."}}]}}
      {"request": {"model": "gpt-4o-mini", "tools": TOOLS, "messages": [{"role": "user", "content": "Weather in Oslo?"}]}, "response": {"id": "chatcmpl-2", "choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant", "content": null, "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Oslo\\"}"}}]}}]}}
      {"request": {"messages": [{"role": "user", "content": "Write an essay."}]}, "response": {"id": "chatcmpl-3", "choices": [{"finish_reason": "length", "message": {"role": "assistant", "content": "Once upon"}}]}}
      """.replace("TOOLS", TOOLS);

  static final String ALPACA = """
      [{"id": "alpaca-1", "instruction": "Translate to French.", "input": "cat", "output": "chat"},
       {"id": "alpaca-2", "instruction": "Name a primary color.", "input": "", "output": "Red."}]
      """;

  static final String MALFORMED = """
      {"id": "bad-arguments", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "[1, 2]"}}]}]}
      {"id": "orphan-result", "messages": [{"role": "user", "content": "q"}, {"role": "tool", "tool_call_id": "nobody", "content": "x"}, {"role": "assistant", "content": "a"}]}
      {"id": "user-calls", "messages": [{"role": "user", "content": "q", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": {}}}]}, {"role": "assistant", "content": "a"}]}
      """;
}
