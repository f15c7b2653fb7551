package io.continualsft.trainer.config;

import java.math.BigDecimal;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.kafka.common.config.ConfigException;

/**
 * One configuration key of the trainer: its name and meaning, its default (null: required), how
 * its text becomes a value and back, and where {@link TrainerSettings} holds the value. A setting
 * is written in three places: here (in {@link TrainerConfig}'s table), as a component of a
 * settings record that checks it, and as that component's argument in the record's {@code
 * from}. The documentation, the builder, and the properties handed to a child process all come
 * from this one declaration.
 *
 * @param of where the settings hold this key's value (for writing settings back as properties)
 */
public record Setting<T>(String key, String doc, T defaultValue, Function<String, T> parser,
    Function<T, String> printer, Function<TrainerSettings, T> of) {

  /** Whether the key has no default: a value must be given. */
  public boolean required() {
    return defaultValue == null;
  }

  /** {@code text} as this setting's value; a {@link ConfigException} naming the key otherwise. */
  public T parse(String text) {
    try {
      return parser.apply(text.trim());
    } catch (ConfigException e) {
      throw e;
    } catch (RuntimeException e) {
      throw new ConfigException(key, text, e.getMessage());
    }
  }

  /** {@code value} as a properties file writes it; {@link #parse} reads it back equal. */
  public String print(T value) {
    return value == null ? "" : printer.apply(value);
  }

  /** The value {@code settings} hold for this key, as text. */
  public String printFrom(TrainerSettings settings) {
    return print(of.apply(settings));
  }

  // --- kinds of settings -----------------------------------------------------------------------

  static Setting<String> text(String key, String doc, String defaultValue,
      Function<TrainerSettings, String> of) {
    return new Setting<>(key, doc, defaultValue, v -> v, v -> v, of);
  }

  static Setting<Integer> integer(String key, String doc, Integer defaultValue,
      Function<TrainerSettings, Integer> of) {
    return new Setting<>(key, doc, defaultValue, Setting::parseInt, String::valueOf, of);
  }

  static Setting<Long> whole(String key, String doc, Long defaultValue,
      Function<TrainerSettings, Long> of) {
    return new Setting<>(key, doc, defaultValue, v -> {
      try {
        return Long.parseLong(v);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("must be a whole number");
      }
    }, String::valueOf, of);
  }

  static Setting<Double> decimal(String key, String doc, Double defaultValue,
      Function<TrainerSettings, Double> of) {
    return new Setting<>(key, doc, defaultValue, Setting::parseDouble, Setting::number, of);
  }

  static Setting<Boolean> bool(String key, String doc, Boolean defaultValue,
      Function<TrainerSettings, Boolean> of) {
    return choice(key, doc, defaultValue, Map.of("false", false, "true", true), of);
  }

  /** One of a few words, each meaning a value. */
  static <T> Setting<T> choice(String key, String doc, T defaultValue, Map<String, T> words,
      Function<TrainerSettings, T> of) {
    Map<String, T> ordered = new LinkedHashMap<>(words);
    String allowed = String.join(", ", ordered.keySet().stream().sorted().toList());
    return new Setting<>(key, doc, defaultValue, v -> {
      T t = ordered.get(v.toLowerCase(Locale.ROOT));
      if (t == null) {
        throw new IllegalArgumentException("must be one of " + allowed);
      }
      return t;
    }, t -> ordered.entrySet().stream().filter(e -> e.getValue().equals(t)).findFirst()
        .orElseThrow().getKey(), of);
  }

  /** A path that must be given. */
  static Setting<Path> path(String key, String doc, Function<TrainerSettings, Path> of) {
    return new Setting<>(key, doc, null, Path::of, Path::toString, of);
  }

  /** A path that may be left out (blank: none). */
  static Setting<Optional<Path>> optionalPath(String key, String doc,
      Function<TrainerSettings, Optional<Path>> of) {
    return new Setting<>(key, doc, Optional.empty(),
        v -> v.isBlank() ? Optional.empty() : Optional.of(Path.of(v)),
        p -> p.map(Path::toString).orElse(""), of);
  }

  /** Comma-separated values of {@code element}. */
  static <T> Setting<List<T>> list(String key, String doc, List<T> defaultValue,
      Function<String, T> element, Function<T, String> printElement,
      Function<TrainerSettings, List<T>> of) {
    return new Setting<>(key, doc, defaultValue, v -> v.isBlank() ? List.of()
        : Arrays.stream(v.split(",")).map(String::trim).map(element).toList(),
        l -> l.stream().map(printElement).collect(Collectors.joining(",")), of);
  }

  static int parseInt(String v) {
    try {
      return Integer.parseInt(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("must be a whole number");
    }
  }

  static double parseDouble(String v) {
    try {
      return Double.parseDouble(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("must be a number");
    }
  }

  /** 16, 0.02, 1e-4: a number as a person writes it, and as it parses back exactly. */
  static String number(double v) {
    BigDecimal d = BigDecimal.valueOf(v).stripTrailingZeros();
    if (d.scale() <= 3) {
      return d.toPlainString();
    }
    int exponent = d.precision() - d.scale() - 1;
    return d.scaleByPowerOfTen(-exponent).toPlainString() + "e" + exponent;
  }

  /** Fails with a {@link ConfigException} naming this key unless {@code ok}. */
  void check(boolean ok, Object value, String why) {
    if (!ok) {
      throw new ConfigException(key, value, why);
    }
  }
}
