package dev.cairn;

import java.util.Optional;
import java.util.OptionalLong;

/**
 * Which checkpoint to restore and where to put it. By default the newest committed step, into new buffers.
 *
 * <pre>{@code
 * RestoreRequest.latest().into(state)   // fill the caller's tensors; sizes and dtypes must match
 * RestoreRequest.step(1200)             // a given step, into new direct buffers
 * }</pre>
 */
public final class RestoreRequest {
    private final OptionalLong step;
    private final TrainingState into;
    private final RankBlobResolver rankBlobs;

    private RestoreRequest(OptionalLong step, TrainingState into) {
        this(step, into, null);
    }

    private RestoreRequest(OptionalLong step, TrainingState into, RankBlobResolver rankBlobs) {
        this.step = step;
        this.into = into;
        this.rankBlobs = rankBlobs;
    }

    public static RestoreRequest latest() {
        return new RestoreRequest(OptionalLong.empty(), null);
    }

    public static RestoreRequest step(long step) {
        if (step < 0) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "step must not be negative, was " + step);
        }
        return new RestoreRequest(OptionalLong.of(step), null);
    }

    /**
     * Restores tensors into the buffers of {@code targets}. Every tensor of the checkpoint must appear there with
     * the same dtype and global shape; a target made by {@link Tensor#sharded} receives its slice, whatever split
     * saved the checkpoint. Blobs are always returned new.
     *
     * <p>Chunks are decoded straight into these buffers, each checked against its hash there. A restore that fails
     * once it has started reading chunks (CORRUPT: a chunk bad in every tier; TIMEOUT; CLOSED) leaves them holding
     * part of the checkpoint, and where a chunk failed its check, bytes that are not the checkpoint's: restore them
     * again (an older step, as the error advises) or initialise them anew before training on; so does INVALID_INPUT
     * for a target that faults while written (a memory map of a file truncated meanwhile). What the restore refuses up
     * front (targets that do not match, a newer format or codec: INVALID_INPUT, UNSUPPORTED_VERSION) writes nothing.
     */
    public RestoreRequest into(TrainingState targets) {
        return new RestoreRequest(step, targets, rankBlobs);
    }

    /** Chooses per-rank blobs when the checkpoint was saved by another number of ranks (default: fail). */
    public RestoreRequest onRankBlobs(RankBlobResolver resolver) {
        return new RestoreRequest(step, into, resolver);
    }

    public Optional<RankBlobResolver> rankBlobResolver() {
        return Optional.ofNullable(rankBlobs);
    }

    /** Empty for the newest committed step. */
    public OptionalLong stepWanted() {
        return step;
    }

    public Optional<TrainingState> targets() {
        return Optional.ofNullable(into);
    }
}
