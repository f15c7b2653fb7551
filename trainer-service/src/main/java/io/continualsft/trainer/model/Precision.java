package io.continualsft.trainer.model;

import ai.djl.Device;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * The precision the frozen base weights are stored and multiplied in. The adapter, its
 * gradients, the loss and the optimizer's moments are FP32 whatever this says; so are the
 * activations between matrix products (norms, RoPE, attention, SwiGLU).
 *
 * <ul>
 *   <li>{@code FP32}: everything in FP32, bit-identical to itself across restarts on one CPU
 *       model;
 *   <li>{@code BF16}: base weights in BF16 (half the memory), their products in BF16 with FP32
 *       accumulation (AMX or AVX512-BF16 on CPUs, tensor cores on GPUs);
 *   <li>{@code FP16}: the same in FP16: half the memory; fast on GPUs, and on CPUs only where
 *       they multiply FP16 natively (AMX-FP16).
 * </ul>
 */
public enum Precision {
  FP32,
  BF16,
  FP16;

  /** As the configuration writes it. */
  public String key() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Bytes of one stored weight value. */
  public int bytesPerValue() {
    return this == FP32 ? 4 : 2;
  }

  /**
   * The precision {@code setting} (fp32, bf16, fp16, or auto) gives on {@code device}: auto is
   * BF16 where the device multiplies it natively (a GPU, or a CPU with AMX-BF16 or
   * AVX512-BF16), FP32 where BF16 would be emulated.
   */
  public static Choice resolve(String setting, Device device) {
    Set<String> flags = device.isGpu() ? Set.of() : CpuFlags.read();
    String cpu = device.isGpu() ? "the GPU" : "this CPU";
    boolean nativeBf16 = device.isGpu() || flags.contains("amx_bf16")
        || flags.contains("avx512_bf16");
    boolean nativeFp16 = device.isGpu() || flags.contains("amx_fp16");
    String bf16Unit = device.isGpu() ? "tensor cores" : flags.contains("amx_bf16") ? "AMX-BF16"
        : "AVX512-BF16";
    return switch (setting) {
      case "fp32" -> new Choice(FP32, "fp32 (as configured)");
      case "bf16" -> new Choice(BF16, nativeBf16 ? "bf16 (" + bf16Unit + " on " + cpu + ")"
          : "bf16, emulated: " + cpu + " has neither AMX-BF16 nor AVX512-BF16 (slower than"
              + " fp32; only the memory is saved)");
      case "fp16" -> new Choice(FP16, nativeFp16 ? "fp16 (native on " + cpu + ")"
          : "fp16, converted to fp32 for each product: " + cpu + " has no AMX-FP16 (only the"
              + " memory is saved)");
      case "auto" -> nativeBf16 ? new Choice(BF16, "bf16 (auto: " + bf16Unit + " on " + cpu + ")")
          : new Choice(FP32, "fp32 (auto: " + cpu + " would emulate bf16)");
      default -> throw new IllegalArgumentException("precision must be auto, fp32, bf16 or"
          + " fp16, got " + setting);
    };
  }

  /** The precision chosen, and why, for the start-up line. */
  public record Choice(Precision precision, String why) {}

  /** The CPU's feature flags, from /proc/cpuinfo (none where it is not there). */
  static final class CpuFlags {
    private CpuFlags() {}

    static Set<String> read() {
      Path cpuinfo = Path.of("/proc/cpuinfo");
      Set<String> flags = new TreeSet<>();
      try {
        for (String line : Files.readAllLines(cpuinfo)) {
          if (line.startsWith("flags")) {
            int colon = line.indexOf(':');
            for (String f : line.substring(colon + 1).trim().split("\\s+")) {
              flags.add(f);
            }
            break;
          }
        }
      } catch (IOException | RuntimeException e) {
        // Not Linux, or not readable: nothing is known to be native.
      }
      return flags;
    }
  }
}
