package io.continualsft.streams.topology;

import io.continualsft.avro.Rejection;
import io.continualsft.avro.SftExample;

/** What the processor makes of one input record (a duplicate makes nothing). */
sealed interface Outcome {
  record Example(SftExample example) implements Outcome {}

  record Rejected(Rejection rejection) implements Outcome {}

  record Preference(io.continualsft.avro.PreferenceExample example) implements Outcome {}
}
