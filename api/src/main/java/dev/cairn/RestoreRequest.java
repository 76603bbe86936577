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
 *
 * <p><b>Ranks that restore together restore one step.</b> Each rank finds the newest committed step by itself, and a
 * tier it cannot ask counts as holding nothing: a rank whose look at a shared disk failed once restores the older step
 * a slower tier holds while the other ranks restore the newer one. Where every rank restores (a job restarted whole, a
 * retried Spark stage, as {@code torch.distributed.checkpoint.load} and Orbax's restore are collective), {@link
 * #together()} makes the restore a meeting of every rank through the run's coordinator ({@link Coordinator#allGather}:
 * the peer-memory tier's, Spark's, or the framework's own): each rank passes the newest step it found, and every rank
 * restores the newest of them, asking every tier for it by name where its own look found an older one; where it still
 * finds that step in no tier, its restore fails (STORAGE) rather than diverge. Not the default: a replacement of a lost
 * rank restores while the others carry on, and has no one to meet.
 */
public final class RestoreRequest {
    private final OptionalLong step;
    private final TrainingState into;
    private final RankBlobResolver rankBlobs;
    private final boolean together;

    private RestoreRequest(OptionalLong step, TrainingState into) {
        this(step, into, null, false);
    }

    private RestoreRequest(OptionalLong step, TrainingState into, RankBlobResolver rankBlobs, boolean together) {
        this.step = step;
        this.into = into;
        this.rankBlobs = rankBlobs;
        this.together = together;
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
        return new RestoreRequest(step, targets, rankBlobs, together);
    }

    /** Chooses per-rank blobs when the checkpoint was saved by another number of ranks (default: fail). */
    public RestoreRequest onRankBlobs(RankBlobResolver resolver) {
        return new RestoreRequest(step, into, resolver, together);
    }

    /**
     * Every rank of the run restores at once, and they agree on the step (see the class comment): for a job restarted
     * whole. Needs a coordinator that passes data; with a barrier-only coordinator, or none, in a run of one rank, and
     * for a given {@link #step}, each rank restores as without it. A rank that calls it while the others do not waits
     * for them until the deadline and fails with TIMEOUT, as a rank missing from a collective does.
     */
    public RestoreRequest together() {
        return new RestoreRequest(step, into, rankBlobs, true);
    }

    /** Whether the ranks restore together and agree on the newest step ({@link #together()}). */
    public boolean isTogether() {
        return together;
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
