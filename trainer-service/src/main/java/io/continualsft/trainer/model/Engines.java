package io.continualsft.trainer.model;

import ai.djl.Device;

/** DJL settings every command needs, set before the engine loads. */
public final class Engines {
  private Engines() {}

  public static void configure() {
    setIfAbsent("ai.djl.offline", "true"); // the native libraries ship in jars: never download
    setIfAbsent("ai.djl.default_engine", "PyTorch");
    setIfAbsent("ai.djl.pytorch.num_interop_threads", "1");
    // libtorch's CPU allocator: arrays of 2 MiB and more aligned to 2 MiB and backed by
    // transparent huge pages. A training step allocates and frees activations of tens of MB
    // many times; with 4 KiB pages each one is hundreds of page faults and, through glibc's
    // heap, memory that is not given back. Measured on the 0.5 B benchmark: 1.3x the speed and
    // 0.58x the peak RSS (BENCHMARKS.md). libtorch reads the variable at its first allocation,
    // so it is set in this process's environment before the engine loads; one already set wins.
    setEnvIfAbsent("THP_MEM_ALLOC_ENABLE", "1");
  }

  /** libc, for the environment the native libraries read. */
  private interface LibC extends com.sun.jna.Library {
    int setenv(String name, String value, int overwrite);
  }

  private static void setEnvIfAbsent(String name, String value) {
    if (System.getenv(name) != null) {
      return;
    }
    try {
      LibC libc = com.sun.jna.Native.load("c", LibC.class);
      libc.setenv(name, value, 0);
    } catch (UnsatisfiedLinkError | RuntimeException e) {
      // Not a libc platform: the allocator keeps its defaults.
    }
  }

  private static void setIfAbsent(String key, String value) {
    if (System.getProperty(key) == null) {
      System.setProperty(key, value);
    }
  }

  /** cpu, gpu, or auto (a GPU when one is visible, else the CPU). */
  public static Device device(String name) {
    return switch (name) {
      case "cpu" -> Device.cpu();
      case "gpu" -> {
        if (ai.djl.engine.Engine.getInstance().getGpuCount() == 0) {
          throw new IllegalArgumentException("device gpu was asked for, but no GPU is visible to"
              + " libtorch (for CUDA, point PYTORCH_LIBRARY_PATH at a libtorch 2.7.1+cu128)");
        }
        yield Device.gpu();
      }
      case "auto" -> ai.djl.engine.Engine.getInstance().getGpuCount() > 0 ? Device.gpu() : Device.cpu();
      default -> throw new IllegalArgumentException("device must be cpu, gpu or auto, got " + name);
    };
  }
}
