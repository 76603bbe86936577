package dev.cairn.tiers.internal.restore;

import dev.cairn.CheckpointException;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;

/**
 * A multi-rank restore, with the clean-up it owes: a rank restarting from a step removes the indexes it left, in an
 * attempt that failed, for steps after it that never committed. Rank 0 would otherwise find one when this attempt
 * reaches that step and commit the old attempt's slices. Ranks restore before their next training step, which they
 * take together, so no rank 0 of this attempt commits a later step before every rank has done this.
 *
 * <p>A restore of the latest step that finds none committed (NOT_FOUND: the first attempt of a run died before its first
 * MANIFEST) removes this rank's indexes of every step that never committed, before it throws: else the next attempt's
 * rank 0, reaching that step first, would find the dead attempt's indexes of the other ranks and commit them. Both
 * clean-ups run only while this checkpointer has not started a save: a restore made later in the run (a rewind, a
 * check) must not delete the index of one of its own saves (or of a promotion) that waits between its index and its
 * MANIFEST. So they rely on every rank restoring before its first save, as frameworks do.
 *
 * <p>The clean-up runs on its own thread as soon as the step is chosen, overlapping the chunk reads, and is done
 * before the restore returns. It costs each rank a listing of the step folders ({@link CommitProtocol#stepFolders}: a
 * request per 1,000 steps, not a listing of {@code steps/}, a request per 1,000 keys, every rank's index of every
 * retained step, which 5,000 restoring ranks each made), and a HEAD of the MANIFEST and a DELETE of its own index for
 * each later step without a MANIFEST (none, or the failed attempt's one or two). From 126 restoring ranks on, these
 * reads are paced as the restore's ({@link CommitProtocol#restoring}).
 */
public final class StaleIndexCleanUp {
    private final Restorer restorer;
    private final List<Tier> tiers;
    private final CommitProtocol commits;
    private final int rank;
    private final int worldSize;
    private final Executor executor;
    private final Duration deadline;
    /** Whether this rank's checkpointer has started a save: then a restore removes nothing. */
    private final BooleanSupplier saving;

    /** A clean-up for a rank that never saves through this restorer (the scale simulation, tests). */
    public StaleIndexCleanUp(Restorer restorer, List<Tier> tiers, CommitProtocol commits, int rank, int worldSize,
                             Executor executor, Duration deadline) {
        this(restorer, tiers, commits, rank, worldSize, executor, deadline, () -> false);
    }

    /**
     * @param worldSize the restoring world, whose size decides whether the clean-up's reads are paced
     * @param executor  where the clean-up runs beside the chunk reads (the multi-rank commit threads)
     * @param saving    whether the rank's checkpointer has started a save yet (true from its first call of save on):
     *                  from then on a restore removes no index
     */
    public StaleIndexCleanUp(Restorer restorer, List<Tier> tiers, CommitProtocol commits, int rank, int worldSize,
                             Executor executor, Duration deadline, BooleanSupplier saving) {
        this.saving = saving;
        this.restorer = restorer;
        this.tiers = tiers;
        this.commits = commits;
        this.rank = rank;
        this.worldSize = worldSize;
        this.executor = executor;
        this.deadline = deadline;
    }

    /**
     * Restores as {@link Restorer#restore(RestoreRequest)} does, and removes this rank's stale indexes meanwhile (or,
     * where no step is committed, before it throws NOT_FOUND); removes none once this rank has started a save.
     */
    public RestoreResult restore(RestoreRequest request) {
        CompletableFuture<Void> cleanUp = new CompletableFuture<>();
        AtomicBoolean started = new AtomicBoolean();
        CommitProtocol reads = pacedFromNow();
        try {
            return restorer.restore(request, step -> {
                if (saving.getAsBoolean()) {
                    return; // an index of a later step may be this rank's own save's, waiting for its MANIFEST
                }
                started.set(true);
                try {
                    executor.execute(() -> {
                        try {
                            dropOwnStaleIndexes(step, reads);
                        } finally {
                            cleanUp.complete(null);
                        }
                    });
                } catch (RejectedExecutionException closing) {
                    cleanUp.complete(null);
                }
            });
        } catch (CheckpointException e) {
            if (e.reason() == CheckpointException.Reason.NOT_FOUND && request.stepWanted().isEmpty() && !started.get()
                    && !saving.getAsBoolean()) {
                // Nothing committed yet: every index there is of a step that never committed.
                dropOwnStaleIndexes(-1, reads);
            }
            throw e;
        } finally {
            if (started.get()) {
                awaitCleanUp(cleanUp);
            }
        }
    }

    private void awaitCleanUp(CompletableFuture<Void> cleanUp) {
        try {
            cleanUp.get(deadline.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            // dropOwnStaleIndexes fails on nothing but an unreachable tier, which it skips
        }
    }

    /**
     * This rank's reads paced from now, as its restore's are ({@link CommitProtocol#restoring}): call at the restore's
     * start. The clean-up starts once the step is chosen, when the restore's first reads have had their slots, so its
     * own first slots are due by then: it waits for no slot of its own after the restore's, where a schedule started
     * then would hold the last of 5,000 ranks back a second 14.6 s. Its listing of the step folders then follows the
     * rank's first read of the MANIFEST, as paced as that: at 5,000 ranks, 333 ranks a second on that prefix.
     */
    public CommitProtocol pacedFromNow() {
        return commits.restoring(rank, worldSize);
    }

    /**
     * Removes this rank's indexes of steps after {@code step} (-1: of every step) that never committed, in every tier,
     * reading through {@code reads} ({@link #pacedFromNow} at the restore's start); what {@link #restore} runs beside the
     * chunk reads once the step is chosen, public for the scale simulation, which runs it on the rank's turn.
     */
    public void dropOwnStaleIndexes(long step, CommitProtocol reads) {
        for (Tier t : tiers) {
            try {
                for (long s : reads.stepFolders(t)) {
                    if (s > step && !reads.isCommitted(t, s)) {
                        t.store().delete(t.layout().indexKey(s, rank)); // none there (another rank's attempt): fine
                    }
                }
            } catch (IOException e) {
                // An unreachable tier: its stale index, if any, stays; the commit there fails or is retried later.
            }
        }
    }
}
