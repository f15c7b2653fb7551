package io.continualsft.chat.template;

/** The template itself refused the input: it called {@code raise_exception(message)}. */
public final class TemplateRaisedException extends TemplateException {
  private final String templateMessage;

  public TemplateRaisedException(String templateMessage) {
    super("the chat template refused the conversation: " + templateMessage);
    this.templateMessage = templateMessage;
  }

  /** The message the template passed to raise_exception. */
  public String templateMessage() {
    return templateMessage;
  }
}
