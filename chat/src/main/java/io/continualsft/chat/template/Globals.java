package io.continualsft.chat.template;

import io.continualsft.chat.template.Py.Namespace;
import io.continualsft.chat.template.Py.PyCallable;
import java.time.Clock;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The names every template can call: jinja2's {@code range}, {@code namespace} and {@code dict},
 * and the ones transformers adds ({@code raise_exception}, {@code strftime_now}).
 */
final class Globals {
  /** jinja2's sandbox refuses larger ranges; so do we. */
  static final int MAX_RANGE = 100_000;


  private Globals() {}

  /** The globals a template sees beside its variables; {@code strftime_now} reads {@code clock}. */
  static Map<String, Object> of(Clock clock) {
    Map<String, Object> g = new LinkedHashMap<>();
    g.put("raise_exception", (PyCallable) (args, kw) -> {
      throw new TemplateRaisedException(args.isEmpty() ? "" : Py.str(args.get(0)));
    });
    g.put("strftime_now", (PyCallable) (args, kw) ->
        Strftime.format(Py.str(Py.arg(args, kw, 0, "format", "")), ZonedDateTime.now(clock)));
    g.put("range", (PyCallable) (args, kw) -> range(args));
    g.put("namespace", (PyCallable) (args, kw) -> {
      Namespace ns = new Namespace();
      if (!args.isEmpty() && args.get(0) instanceof Map<?, ?> init) {
        init.forEach((k, v) -> ns.attrs.put(Py.str(k), v));
      }
      ns.attrs.putAll(kw);
      return ns;
    });
    g.put("dict", (PyCallable) (args, kw) -> {
      Map<Object, Object> d = new LinkedHashMap<>();
      if (!args.isEmpty() && args.get(0) instanceof Map<?, ?> init) {
        d.putAll(init);
      }
      d.putAll(kw);
      return d;
    });
    return g;
  }

  private static List<Object> range(List<Object> args) {
    long start = 0;
    long stop;
    long step = 1;
    if (args.size() == 1) {
      stop = Py.toLong(args.get(0));
    } else {
      start = Py.toLong(args.get(0));
      stop = Py.toLong(args.get(1));
      if (args.size() > 2) {
        step = Py.toLong(args.get(2));
      }
    }
    if (step == 0) {
      throw new TemplateException("range() arg 3 must not be zero");
    }
    List<Object> out = new ArrayList<>();
    for (long i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (out.size() >= MAX_RANGE) {
        throw new TemplateException("Range too big. The sandbox blocks ranges larger than "
            + MAX_RANGE + ".");
      }
      out.add(i);
    }
    return out;
  }
}
