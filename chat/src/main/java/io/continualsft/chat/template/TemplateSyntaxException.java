package io.continualsft.chat.template;

/** The template text is not valid (for this engine's Jinja subset). */
public final class TemplateSyntaxException extends TemplateException {
  public TemplateSyntaxException(String message, int line) {
    super(message + " (template line " + line + ")");
  }
}
