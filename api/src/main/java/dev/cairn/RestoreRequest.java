package dev.cairn;

import java.util.Optional;
import java.util.OptionalLong;

/**
 * Which checkpoint to restore and where to put it. By default the newest committed step, into new buffers.
 *
 * <pre>{@code
 * RestoreRequest.latest().into(state)   // fill the caller's tensors; sizes and dtypes must match
 * RestoreRequest.step(1200)             // a given step, into new direct buffers
 * RestoreRequest.latest().blobsOnly()   // its blobs alone (counters, configuration), no tensor read
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
    private final boolean blobsOnly;

    private RestoreRequest(OptionalLong step, TrainingState into) {
        this(step, into, null, false, false);
    }

    private RestoreRequest(OptionalLong step, TrainingState into, RankBlobResolver rankBlobs, boolean together,
                           boolean blobsOnly) {
        this.step = step;
        this.into = into;
        this.rankBlobs = rankBlobs;
        this.together = together;
        this.blobsOnly = blobsOnly;
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
     *
     * @throws CheckpointException INVALID_INPUT on a request for {@link #blobsOnly()}, which writes no targets
     */
    public RestoreRequest into(TrainingState targets) {
        if (blobsOnly) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "a restore of blobs only writes no "
                    + "targets: restore the same step into them with a second request");
        }
        return new RestoreRequest(step, targets, rankBlobs, together, blobsOnly);
    }

    /**
     * Restores the checkpoint's blobs alone: no tensor is read, and the result holds only blobs, as a restore of the
     * whole state would return them (per-rank blobs chosen the same way). For what must be read and checked before
     * anything is overwritten, e.g. the counters and settings a framework saved beside its tensors: check them, then
     * restore {@link #step} of the result's step {@link #into} the tensors. The step is chosen as for a whole restore.
     * Not recorded as a restore in the metrics, JFR events and log (a look before one; its failures are still thrown).
     *
     * @throws CheckpointException INVALID_INPUT on a request with targets ({@link #into})
     */
    public RestoreRequest blobsOnly() {
        if (into != null) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "a restore into targets restores"
                    + " tensors: a restore of blobs only is a request without targets");
        }
        return new RestoreRequest(step, into, rankBlobs, together, true);
    }

    /** Whether only the blobs are restored ({@link #blobsOnly()}). */
    public boolean isBlobsOnly() {
        return blobsOnly;
    }

    /** Chooses per-rank blobs when the checkpoint was saved by another number of ranks (default: fail). */
    public RestoreRequest onRankBlobs(RankBlobResolver resolver) {
        return new RestoreRequest(step, into, resolver, together, blobsOnly);
    }

    /**
     * Every rank of the run restores at once, and they agree on the step (see the class comment): for a job restarted
     * whole. Needs a coordinator that passes data; with a barrier-only coordinator, or none, in a run of one rank, and
     * for a given {@link #step}, each rank restores as without it. A rank that calls it while the others do not waits
     * for them until the deadline and fails with TIMEOUT, as a rank missing from a collective does.
     */
    public RestoreRequest together() {
        return new RestoreRequest(step, into, rankBlobs, true, blobsOnly);
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
