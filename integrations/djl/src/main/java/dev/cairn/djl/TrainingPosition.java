package dev.cairn.djl;

import dev.cairn.CheckpointException;

/**
 * Where training stands between two updates: {@code step} updates ({@code Trainer.step()} calls) are applied,
 * {@code epoch} epochs are finished, and the next batch to train is batch {@code batchInEpoch} (from 0) of epoch
 * {@code epoch}. A checkpoint holds the state at such a point, and {@link CairnTrainingListener#resume} returns the
 * one training continues from. A save after the last batch of an epoch and before its end (a step save that falls
 * there) has {@code batchInEpoch} equal to the epoch's batch count: the epoch has no batch left, only its end.
 */
public record TrainingPosition(long step, long epoch, long batchInEpoch) {
    /** A run that has trained nothing yet. */
    public static final TrainingPosition START = new TrainingPosition(0, 0, 0);

    public TrainingPosition {
        if (step < 0 || epoch < 0 || batchInEpoch < 0) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT,
                    "a training position's counters must not be negative: step " + step + ", epoch " + epoch
                            + ", batchInEpoch " + batchInEpoch);
        }
    }
}
