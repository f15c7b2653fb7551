package io.continualsft.schemas.serde;

/** Subject naming: Confluent's TopicNameStrategy, the default every Confluent-API client uses. */
public final class Subjects {
  private Subjects() {}

  public static String topicName(String topic, boolean isKey) {
    return topic + (isKey ? "-key" : "-value");
  }
}
