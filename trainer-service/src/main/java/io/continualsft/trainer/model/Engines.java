package io.continualsft.trainer.model;

import ai.djl.Device;

/** DJL settings every command needs, set before the engine loads. */
public final class Engines {
  private Engines() {}

  public static void configure() {
    setIfAbsent("ai.djl.offline", "true"); // the native libraries ship in jars: never download
    setIfAbsent("ai.djl.default_engine", "PyTorch");
    setIfAbsent("ai.djl.pytorch.num_interop_threads", "1");
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
