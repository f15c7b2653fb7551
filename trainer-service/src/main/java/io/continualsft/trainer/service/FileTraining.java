package io.continualsft.trainer.service;

import io.continualsft.avro.SftExample;
import io.continualsft.trainer.config.TrainerSettings;
import io.continualsft.trainer.lora.PeftAdapter;
import io.continualsft.trainer.model.Batch;
import io.continualsft.trainer.model.ModelIdentity;
import io.continualsft.trainer.train.AdapterTraining;
import io.continualsft.trainer.train.LoraTrainer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.TopicPartition;

/**
 * Training from a list of examples (a dataset file) with the service's own parts: the same
 * admission (held-out slice by conversation-id hash, the same checks), the same step formation
 * ({@link StepBookkeeping}: steps of {@code step.tokens}, the remainder trained as a last step as
 * the service does when it catches up with its topic), the same step, seeds and batching. The
 * same examples in the same order therefore give the adapter the service would publish,
 * bit for bit. Replay is not offered here: a file has no log to read back.
 */
public final class FileTraining {
  /** The examples' place in the stream, for the bookkeeping: a file is one partition. */
  private static final TopicPartition FILE = new TopicPartition("file", 0);

  /** What training reports as it goes: each step, and each epoch's eval loss. */
  public interface Progress {
    void stepped(LoraTrainer.StepResult result, long examplesTrained, long tokensTrained);

    void epoch(int epoch, double evalLoss, int evalExamples);
  }

  /** An example that was not trained nor held out, and why. */
  public record Refused(int index, String reason) {}

  /**
   * The trained adapter and what it took.
   *
   * @param evalLoss mean loss on the eval examples after the last epoch (NaN without any)
   */
  public record Result(PeftAdapter adapter, long steps, long examplesTrained, long tokensTrained,
      List<Batch.Example> evalSet, double evalLoss, List<Refused> refused) {}

  private FileTraining() {}

  /** The number of steps {@code examples} make in one epoch, before admission: for an ETA. */
  public static long estimateSteps(List<SftExample> examples, TrainerSettings.Steps steps) {
    long tokens = examples.stream().mapToLong(SftExample::getTrainedTokens).sum();
    long byTokens = (tokens + steps.stepTokens() - 1) / steps.stepTokens();
    return steps.stepExamples() > 0 ? Math.max(byTokens,
        (examples.size() + steps.stepExamples() - 1) / steps.stepExamples()) : byTokens;
  }

  /**
   * Trains {@code examples} for {@code epochs} epochs. The held-out slice ({@code eval.fraction},
   * by conversation id) is never trained and is the eval set, with {@code evalFile}'s examples
   * added to it.
   */
  public static Result train(TrainerSettings settings, AdapterTraining training,
      ModelIdentity identity, List<SftExample> examples, List<Batch.Example> evalFile,
      int epochs, Progress progress) {
    ai.djl.pytorch.jni.JniUtils.setGradMode(false); // as the service: only the collector records
    ExampleAdmission admission = new ExampleAdmission(settings.adapter(),
        identity.tokenizerFingerprint(), training.vocabSize(), settings.steps().maxLength(),
        settings.eval().fraction());
    StepBookkeeping books = new StepBookkeeping(settings.steps().stepTokens(),
        settings.steps().stepExamples(), Integer.MAX_VALUE, java.time.Instant.EPOCH);
    List<Batch.Example> eval = new ArrayList<>(evalFile);
    List<Refused> refused = new ArrayList<>();
    double evalLoss = Double.NaN;
    long offset = 0;
    books.start(Map.of(FILE, 0L));
    for (int epoch = 1; epoch <= epochs; epoch++) {
      for (int i = 0; i < examples.size(); i++) {
        books.read(FILE, offset++);
        switch (admission.admit(examples.get(i))) {
          case ExampleAdmission.Train t -> books.admit(t.example(), t.trainedTokens());
          case ExampleAdmission.HeldOut h -> {
            if (epoch == 1) {
              eval.add(h.example());
            }
          }
          case ExampleAdmission.OtherObjective o ->
              throw new IllegalStateException("train reads SFT examples only");
          case ExampleAdmission.OtherAdapter o -> {
            if (epoch == 1) {
              refused.add(new Refused(i, "adapter " + examples.get(i).getAdapter() + ", not "
                  + settings.adapter()));
            }
          }
          case ExampleAdmission.Rejected r -> {
            if (epoch == 1) {
              refused.add(new Refused(i, r.reason() + ": " + r.detail()));
            }
          }
          case ExampleAdmission.Erased erased -> { } // a file has no erasure requests
        }
        if (books.stepFull()) {
          step(training, books, progress);
        }
      }
      if (books.hasPendingExamples()) {
        step(training, books, progress); // the end of the data: train it, as the service does
      }
      evalLoss = training.evalLoss(eval);
      progress.epoch(epoch, evalLoss, eval.size());
    }
    return new Result(training.adapter(identity.baseModelName()), training.step(),
        books.examplesTrained(), books.tokensTrained(), List.copyOf(eval), evalLoss, refused);
  }

  private static void step(AdapterTraining training, StepBookkeeping books, Progress progress) {
    LoraTrainer.StepResult result = training.step(books.window());
    books.stepped(result, 0, 0);
    progress.stepped(result, books.examplesTrained(), books.tokensTrained());
  }

  /** ETA from the rate so far: {@code remaining} steps at {@code elapsed / done} each. */
  public static Duration eta(Duration elapsed, long done, long total) {
    if (done <= 0 || total <= done) {
      return Duration.ZERO;
    }
    return elapsed.multipliedBy(total - done).dividedBy(done);
  }
}
