package dev.cairn.tiers.internal.commit;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.tiers.internal.Tier;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The newest step committed in each tier when this checkpointer first saved into it, found once per tier from this
 * rank's group of step marks ({@link StepMarks#newest}: no listing of every key under the steps), which a
 * save checks its step against. Steps above it can only have been committed since by this process (whose steps only
 * go up) or by a second writer of the same run, which the create-only MANIFEST refuses at commit time; so a save
 * checks the store (a remote call on S3 or peer memory, in the caller's thread) only for steps at or below it, as
 * after a restore from an older step.
 *
 * <p>The look starts at open ({@link #listInBackground}), on each tier's I/O thread, so that a slow or cold store (an
 * S3 client's first call loads and starts its whole stack) is not paid for in the caller's thread by the first save
 * that reaches that tier, possibly many steps from now. The newest step's MANIFEST is then read ahead for a restore
 * ({@link #readAhead}).
 *
 * <p>In a world of more than 125 ranks the look's read of the MANIFEST waits for the rank's slot
 * ({@link CommitProtocol#newestAtOpen}): up to 29.6 s after the open for rank 9,999 of 10,000, 2.6 s for rank 999 of
 * 1,000, on the tier's I/O thread. A first save made before then waits for it ({@link #atFirstSave}, within the
 * deadline, two minutes by default) instead of asking the store again; a world of up to 125 ranks and a single
 * process do not wait.
 */
public final class HighestCommitted {
    private final CommitProtocol commits;
    private final Duration deadline;
    private final int rank;
    private final int worldSize;
    private final boolean readRowsAhead;
    private final Map<Integer, Long> known = new ConcurrentHashMap<>();
    /** Each tier's committed steps, listed in the background from the open on, until the first save takes them. */
    private final Map<Integer, CompletableFuture<Long>> atOpen = new ConcurrentHashMap<>();

    /**
     * @param deadline  how long the first save waits for a look still running before it looks again itself
     * @param rank      this process's rank, which picks its group of step marks
     * @param worldSize ranks of this run
     * @param readRowsAhead whether the open also reads this rank's rows ahead ({@code CairnConfig#readRowsAhead})
     */
    public HighestCommitted(CommitProtocol commits, Duration deadline, int rank, int worldSize, boolean readRowsAhead) {
        this.commits = commits;
        this.deadline = deadline;
        this.rank = rank;
        this.worldSize = worldSize;
        this.readRowsAhead = readRowsAhead;
    }

    /** Starts listing {@code t}'s committed steps on one of its I/O threads. */
    public void listInBackground(Tier t) {
        listInBackground(t, () -> { });
    }

    /**
     * Starts listing {@code t}'s committed steps on one of its I/O threads; when it holds one, reads the newest's
     * MANIFEST ahead ({@link #readAhead}) and then runs {@code whenCommitted} there (a restore is likely to follow).
     */
    public void listInBackground(Tier t, Runnable whenCommitted) {
        CompletableFuture<Long> listed = new CompletableFuture<>();
        atOpen.put(t.index(), listed);
        try {
            t.io().execute(() -> {
                long newest;
                try {
                    newest = commits.newestAtOpen(t, rank, worldSize); // paced by rank in a large world
                    listed.complete(newest);
                } catch (Throwable e) {
                    listed.completeExceptionally(e); // listed again at the first save, which reports why
                    return;
                }
                if (newest >= 0) {
                    readAhead(t, newest);
                    whenCommitted.run();
                    if (readRowsAhead) {
                        readAheadRows(t, newest);
                    }
                }
            });
        } catch (RejectedExecutionException e) {
            listed.completeExceptionally(e);
        }
    }

    /**
     * Reads and parses {@code t}'s newest MANIFEST into the commit protocol's cache (committed manifests never change),
     * after the listing has been handed on: a replacement process opens its checkpointer and then restores that step,
     * whose first act is this read. Done here, it overlaps with whatever the caller does between the open and the
     * restore (building its model), and so does the store client's and the manifest reader's start-up on their first
     * call (an S3 client's first GET, Arrow's and Jackson's classes), which a cold JVM would otherwise pay inside the
     * restore. A failure is left to the restore, which reads again and reports it.
     */
    private void readAhead(Tier t, long newest) {
        try {
            // The global part: from format 4 a multi-rank MANIFEST's rows are in the rank indexes, and a restoring
            // rank reads just the indexes of the slices it asks for (every index, at open, would cost what that saves).
            commits.readGlobal(t, newest);
        } catch (Throwable e) {
            // read again, and reported, by whoever needs it
        }
    }

    /**
     * Then the pages and indexes of this rank's own rows (and rank 0's), which a replacement of a lost rank restores:
     * kept for that restore's reads; not where the world differs, nor in a paced restore of thousands of ranks.
     */
    private void readAheadRows(Tier t, long newest) {
        try {
            commits.readAheadRows(t, newest, rank, worldSize);
        } catch (Throwable e) {
            // read again, and reported, by whoever needs it
        }
    }

    /**
     * The newest step committed in {@code t} as far as is known now, without waiting or asking: what
     * {@link #atFirstSave} found, or the look at open once it has answered; {@code Long.MIN_VALUE} while neither has
     * (the look still running, paced, or failed).
     */
    public long knownNow(Tier t) {
        Long newest = known.get(t.index());
        if (newest != null) {
            return newest;
        }
        CompletableFuture<Long> listed = atOpen.get(t.index());
        if (listed != null && listed.isDone() && !listed.isCompletedExceptionally()) {
            return listed.join();
        }
        return Long.MIN_VALUE;
    }

    /** The newest step committed in {@code t} when this checkpointer first saved into it, or -1; listed once. */
    public long atFirstSave(Tier t) throws IOException {
        Long newest = known.get(t.index());
        CompletableFuture<Long> listed = atOpen.remove(t.index());
        if (newest == null && listed != null) {
            // Listed since the open: as good as a listing now (a step committed since by another writer of this run is
            // refused by the create-only MANIFEST all the same). Waited for within the deadline if still running.
            try {
                newest = listed.get(deadline.toNanos(), TimeUnit.NANOSECONDS);
                known.put(t.index(), newest);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CheckpointException(Reason.CLOSED, "interrupted while tier " + t.name() + " was listed");
            } catch (ExecutionException | TimeoutException e) {
                // listed again below, in this thread, which reports the reason
            }
        }
        if (newest == null) {
            newest = commits.newestCommitted(t, rank, worldSize);
            known.put(t.index(), newest);
        }
        return newest;
    }
}
