package dev.cairn;

import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * The progress of one {@link Checkpointer#save}. Every future completes, normally or with a
 * {@link CheckpointException}, within the configured deadline. A callback attached to one runs on the thread that
 * completes it, which may be one of the checkpointer's own, inside the step's commit: keep callbacks short; a
 * {@link Checkpointer#close} from one fails the saves not finished with CLOSED at once instead of waiting for them.
 */
public interface CheckpointHandle {
    long step();

    /** Names of the tiers this step goes to (by their intervals); empty when no tier takes the step. */
    List<String> tiers();

    /** Completes when the caller's buffers are no longer read: training may change them. */
    CompletableFuture<Void> captured();

    /** Completes when the checkpoint is committed in {@code tier}; fails for a tier not in {@link #tiers()}. */
    CompletableFuture<CommitReport> committed(String tier);

    /** Completes when every tier has committed, with their reports in tier order. */
    CompletableFuture<List<CommitReport>> done();

    /**
     * Why this save was skipped ({@link WhenBusy#SKIP}: an earlier save was still being persisted), or empty when it
     * was taken. A skipped save names no tier, stored nothing, and its futures are complete: {@link #captured()} and
     * {@link #done()} (with no report) normally, {@link #committed(String)} with the reason.
     */
    default Optional<String> skipped() {
        return Optional.empty();
    }
}
