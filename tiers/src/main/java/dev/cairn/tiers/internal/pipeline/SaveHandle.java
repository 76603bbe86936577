package dev.cairn.tiers.internal.pipeline;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.CheckpointHandle;
import dev.cairn.CommitReport;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * What the caller of {@code save()} holds: the step's futures (captured, one commit per target tier, done), and per
 * tier who completes its commit future: the commit, or the deadline or close that failed it first. Nothing else.
 */
public final class SaveHandle implements CheckpointHandle {
    private static final int PENDING = 0;
    private static final int COMMITTING = 1;
    private static final int FINISHED = 2;

    private final long step;
    private final List<String> tiers;
    private final CompletableFuture<Void> captured = new CompletableFuture<>();
    private final List<CompletableFuture<CommitReport>> committed = new ArrayList<>();
    private final CompletableFuture<List<CommitReport>> done;
    private final AtomicIntegerArray tierState;
    /** Why the save was skipped; null when it was taken. */
    private final String skipped;

    /** @param tiers the names of the tiers the step goes to, fastest first */
    SaveHandle(long step, List<String> tiers) {
        this(step, tiers, null);
    }

    private SaveHandle(long step, List<String> tiers, String skipped) {
        this.skipped = skipped;
        this.step = step;
        this.tiers = List.copyOf(tiers);
        this.tierState = new AtomicIntegerArray(tiers.size());
        for (int t = 0; t < tiers.size(); t++) {
            committed.add(new CompletableFuture<>());
        }
        done = CompletableFuture.allOf(committed.toArray(new CompletableFuture[0]))
                .thenApply(v -> committed.stream().map(CompletableFuture::join).toList());
    }

    /** The handle of a save skipped for {@code reason}: no tier, nothing stored, every future complete. */
    public static SaveHandle skipped(long step, String reason) {
        SaveHandle h = new SaveHandle(step, List.of(), reason);
        h.captured.complete(null);
        return h;
    }

    /** The internal (not copied) captured future. */
    CompletableFuture<Void> capturedFuture() {
        return captured;
    }

    /** The internal (not copied) commit future of target tier {@code t}. */
    CompletableFuture<CommitReport> committed(int t) {
        return committed.get(t);
    }

    /**
     * Claims the right to commit tier {@code t}; false when the deadline or close already failed it. Without the
     * claim a step could be committed while its handle reports a failure.
     */
    boolean claimCommit(int t) {
        return tierState.compareAndSet(t, PENDING, COMMITTING);
    }

    /** Fails the commit futures not claimed yet, and {@code captured} unless {@code capturing} (ZERO_COPY). */
    void expire(CheckpointException e, boolean capturing) {
        if (!capturing) {
            captured.completeExceptionally(e);
        }
        for (int t = 0; t < committed.size(); t++) {
            if (tierState.compareAndSet(t, PENDING, FINISHED)) {
                committed.get(t).completeExceptionally(e);
            }
        }
    }

    @Override
    public long step() {
        return step;
    }

    @Override
    public List<String> tiers() {
        return tiers;
    }

    @Override
    public CompletableFuture<Void> captured() {
        return captured.copy();
    }

    @Override
    public CompletableFuture<CommitReport> committed(String tier) {
        int t = tiers.indexOf(tier);
        if (t >= 0) {
            return committed.get(t).copy();
        }
        if (skipped != null) {
            return CompletableFuture.failedFuture(new CheckpointException(Reason.INVALID_INPUT,
                    "step " + step + " was skipped: " + skipped));
        }
        return CompletableFuture.failedFuture(new CheckpointException(Reason.INVALID_INPUT,
                "step " + step + " does not go to tier '" + tier + "' (it goes to " + tiers + ")"));
    }

    @Override
    public CompletableFuture<List<CommitReport>> done() {
        return done.copy();
    }

    @Override
    public java.util.Optional<String> skipped() {
        return java.util.Optional.ofNullable(skipped);
    }
}
