package io.continualsft.trainer.config;

import io.continualsft.chat.labels.Identifiers;
import io.continualsft.trainer.lora.LoraSettings;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.common.config.ConfigException;

/**
 * {@code adapters.lora-overrides}: per-adapter LoRA settings in one property, {@code
 * NAME.KEY=VALUE} entries separated by {@code ;} (a list of target modules keeps its commas).
 * One key rather than a key per adapter, so the configuration table stays fixed and documented.
 */
final class LoraOverrides {
  private static final String KEY = TrainerConfig.LORA_OVERRIDES.key();
  private static final List<String> FIELDS =
      List.of("r", "alpha", "dropout", "target-modules", "use-rslora");

  private LoraOverrides() {}

  /** Each named adapter's settings: {@code base} with its entries applied. */
  static Map<String, LoraSettings> parse(String spec, LoraSettings base) {
    Map<String, Map<String, String>> byAdapter = new LinkedHashMap<>();
    for (String entry : spec.split(";")) {
      if (entry.isBlank()) {
        continue;
      }
      int eq = entry.indexOf('=');
      int dot = eq < 0 ? -1 : entry.lastIndexOf('.', eq);
      if (eq < 0 || dot < 0) {
        throw new ConfigException(KEY, entry.trim(), "each entry is NAME.KEY=VALUE");
      }
      String name = entry.substring(0, dot).trim();
      String field = entry.substring(dot + 1, eq).trim();
      String value = entry.substring(eq + 1).trim();
      if (!Identifiers.ADAPTER.matcher(name).matches()) {
        throw new ConfigException(KEY, name, "is not an adapter name: "
            + Identifiers.ADAPTER.pattern());
      }
      if (!FIELDS.contains(field)) {
        throw new ConfigException(KEY, entry.trim(), "KEY must be one of " + FIELDS);
      }
      byAdapter.computeIfAbsent(name, n -> new LinkedHashMap<>()).put(field, value);
    }
    Map<String, LoraSettings> out = new TreeMap<>();
    byAdapter.forEach((name, fields) -> {
      try {
        out.put(name, new LoraSettings(
            Integer.parseInt(fields.getOrDefault("r", String.valueOf(base.r()))),
            Double.parseDouble(fields.getOrDefault("alpha", String.valueOf(base.alpha()))),
            Double.parseDouble(fields.getOrDefault("dropout", String.valueOf(base.dropout()))),
            fields.containsKey("target-modules")
                ? Arrays.stream(fields.get("target-modules").split(",")).map(String::trim).toList()
                : base.targetModules(),
            fields.containsKey("use-rslora") ? parseBoolean(name, fields.get("use-rslora"))
                : base.useRslora()));
      } catch (NumberFormatException e) {
        throw new ConfigException(KEY, name + ": " + fields, "r is a whole number, alpha and"
            + " dropout numbers");
      } catch (IllegalArgumentException e) {
        throw new ConfigException(KEY, name, e.getMessage());
      }
    });
    return java.util.Collections.unmodifiableMap(out);
  }

  /** The property value that {@link #parse} reads back into {@code overrides}, every field given. */
  static String render(Map<String, LoraSettings> overrides) {
    List<String> entries = new ArrayList<>();
    new TreeMap<>(overrides).forEach((name, l) -> {
      entries.add(name + ".r=" + l.r());
      entries.add(name + ".alpha=" + Setting.number(l.alpha()));
      entries.add(name + ".dropout=" + Setting.number(l.dropout()));
      entries.add(name + ".target-modules=" + String.join(",", l.targetModules()));
      entries.add(name + ".use-rslora=" + l.useRslora());
    });
    return String.join("; ", entries);
  }

  private static boolean parseBoolean(String name, String v) {
    if (!v.equals("true") && !v.equals("false")) {
      throw new ConfigException(KEY, name + ".use-rslora=" + v, "must be true or false");
    }
    return Boolean.parseBoolean(v);
  }
}
