package io.continualsft.trainer.service;

import io.continualsft.trainer.release.ReleaseGate;
import java.util.Map;
import org.apache.kafka.common.TopicPartition;

/**
 * What a committed checkpoint recorded, and what became of the candidate: for a caller that
 * watches the service run ({@link TrainerService#onPublished}).
 *
 * @param retentionLoss the candidate's loss on the retention set (NaN without one)
 * @param released whether this checkpoint was released in its transaction
 * @param gate why it was (not) released, with the numbers
 */
public record Published(String adapter, long version, long step, long examplesTrained,
    long examplesInSkippedSteps, long tokensTrained, double evalLoss,
    Map<TopicPartition, Long> offsets, long examplesReplayed, double retentionLoss,
    boolean released, ReleaseGate.Reason reason, String gate) {}
