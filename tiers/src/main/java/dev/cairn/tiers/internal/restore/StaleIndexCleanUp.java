package dev.cairn.tiers.internal.restore;

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

/**
 * A multi-rank restore, with the clean-up it owes: a rank restarting from a step removes the indexes it left, in an
 * attempt that failed, for steps after it that never committed. Rank 0 would otherwise find one when this attempt
 * reaches that step and commit the old attempt's slices. Ranks restore before their next training step, which they
 * take together, so no rank 0 of this attempt commits a later step before every rank has done this.
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

    /**
     * @param worldSize the restoring world, whose size decides whether the clean-up's reads are paced
     * @param executor  where the clean-up runs beside the chunk reads (the multi-rank commit threads)
     */
    public StaleIndexCleanUp(Restorer restorer, List<Tier> tiers, CommitProtocol commits, int rank, int worldSize,
                             Executor executor, Duration deadline) {
        this.restorer = restorer;
        this.tiers = tiers;
        this.commits = commits;
        this.rank = rank;
        this.worldSize = worldSize;
        this.executor = executor;
        this.deadline = deadline;
    }

    /** Restores as {@link Restorer#restore(RestoreRequest)} does, and removes this rank's stale indexes meanwhile. */
    public RestoreResult restore(RestoreRequest request) {
        CompletableFuture<Void> cleanUp = new CompletableFuture<>();
        AtomicBoolean started = new AtomicBoolean();
        CommitProtocol reads = pacedFromNow();
        try {
            return restorer.restore(request, step -> {
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
     * Removes this rank's indexes of steps after {@code step} that never committed, in every tier, reading through
     * {@code reads} ({@link #pacedFromNow} at the restore's start); what {@link #restore} runs beside the chunk reads
     * once the step is chosen, public for the scale simulation, which runs it on the rank's turn.
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
