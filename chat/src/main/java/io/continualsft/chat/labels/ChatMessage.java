package io.continualsft.chat.labels;

/** One turn as the labeler sees it; {@code train} null means "follow the policy". */
public record ChatMessage(String role, String content, Boolean train) {
  public static ChatMessage of(String role, String content) {
    return new ChatMessage(role, content, null);
  }
}
