package io.continualsft.it.trainer;

import io.continualsft.avro.Conversation;
import java.util.List;

/** The trainer fixtures' conversations, for the benchmarks in another package. */
public final class TrainerFixturesAccess {
  private TrainerFixturesAccess() {}

  public static java.nio.file.Path tinyModel(java.nio.file.Path dir) throws java.io.IOException {
    return TrainerFixtures.tinyModel(java.nio.file.Files.createDirectories(dir));
  }

  public static List<Conversation> conversations(int count, String prefix) {
    return TrainerFixtures.conversations(count, prefix);
  }
}
