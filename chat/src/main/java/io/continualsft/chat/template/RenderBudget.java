package io.continualsft.chat.template;

/**
 * What one render may cost. Chat templates are trusted code, but they run on data a stranger
 * wrote, and a template bug (or a template written to be clever) can turn that data into
 * unbounded work: a loop over a loop, a recursive macro, {@code 'a' * n}. A render that would
 * pass a budget fails with a {@link TemplateException} naming it, which the labeler turns into a
 * dead letter; nothing a record makes a template do can stop the service.
 *
 * <p>The budgets are far above what any published chat template needs for the longest
 * conversation the labeling limits admit (256 turns of 100,000 characters), so they never refuse
 * a legitimate render.
 */
final class RenderBudget {
  /** Characters one render may produce, including strings built and discarded on the way. */
  static final int MAX_OUTPUT_CHARS = 64 * 1024 * 1024;
  /** Loop iterations plus macro calls in one render. */
  static final long MAX_STEPS = 5_000_000;
  /** Nested macro calls (recursion). */
  static final int MAX_CALL_DEPTH = 100;

  private long steps;
  private int depth;

  /** Counts one loop iteration or macro call. */
  void step(String where) {
    if (++steps > MAX_STEPS) {
      throw new TemplateException("the render took more than " + MAX_STEPS + " loop iterations"
          + " and macro calls (at " + where + ")");
    }
  }

  void enterCall(String macro) {
    if (++depth > MAX_CALL_DEPTH) {
      throw new TemplateException("macro '" + macro + "' nested more than " + MAX_CALL_DEPTH
          + " calls deep (unbounded recursion?)");
    }
  }

  void exitCall() {
    depth--;
  }
}
