package io.continualsft.chat.template;

/** A chat template could not be parsed or rendered. */
public class TemplateException extends RuntimeException {
  public TemplateException(String message) {
    super(message);
  }

  public TemplateException(String message, Throwable cause) {
    super(message, cause);
  }
}
