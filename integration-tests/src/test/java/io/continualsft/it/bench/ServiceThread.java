package io.continualsft.it.bench;

import io.continualsft.trainer.service.TrainerService;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;

/** Runs a trainer service until {@code stop} on a thread of its own, for the benchmarks. */
final class ServiceThread {
  private ServiceThread() {}

  /**
   * A thread of our own rather than the common pool: inside Maven's exec:java the pool's threads
   * lack the project's class loader, so the new thread takes the caller's.
   */
  static CompletableFuture<Void> start(TrainerService service, BooleanSupplier stop, String name) {
    CompletableFuture<Void> run = new CompletableFuture<>();
    Thread runner = new Thread(() -> {
      try {
        service.run(stop);
        run.complete(null);
      } catch (Throwable t) {
        run.completeExceptionally(t);
      }
    }, name);
    runner.setContextClassLoader(Thread.currentThread().getContextClassLoader());
    runner.start();
    return run;
  }
}
