package io.continualsft.trainer.release;

import io.continualsft.avro.AdapterRelease;
import java.util.Optional;

/** Where the current release of an adapter is found: the releases topic, or a test's list. */
@FunctionalInterface
public interface ReleaseSource {
  /** The newest release of {@code adapter}, or empty when it has never been released. */
  Optional<AdapterRelease> current(String adapter);

  /** A source with no release of any adapter. */
  static ReleaseSource none() {
    return adapter -> Optional.empty();
  }
}
