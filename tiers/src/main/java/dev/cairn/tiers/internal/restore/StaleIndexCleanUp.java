package dev.cairn.tiers.internal.restore;

import dev.cairn.ObjectInfo;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A multi-rank restore, with the clean-up it owes: when a job restarts from a step, the indexes its ranks left, in
 * an attempt that failed, for steps after it that never committed are removed. Rank 0 would otherwise find one when
 * this attempt reaches that step and commit the old attempt's slices: a rank that meets the others through the store
 * creates its index create-only and replaces one it finds there of an uncommitted step, but rank 0 may have read the
 * old one already (it reads every index it lists; only a coordinator's digests tell it which to take).
 *
 * <p>Rank 0 does it for every rank, from one listing of the steps: each later step that holds indexes is asked once
 * whether it is committed, and the indexes of those that are not are deleted in batches. The other ranks ask nothing
 * (issue 15: at 5,000 restoring ranks, each listing the whole steps prefix was 5,000 listings of the prefix the
 * restore reads). Why that is enough: ranks restore before their next training step, which they take together with
 * rank 0, whose restore returns only once the clean-up is done (or its deadline passed); so no rank of this attempt
 * writes an index of a step after the restored one, and no rank 0 of this attempt commits one, before the old
 * attempt's indexes are gone. It also removes the indexes of ranks the new world does not have (a restore on fewer
 * ranks), which a rank's own clean-up left to a sweep. What it assumes, as each rank's own clean-up did for that
 * rank's indexes: no job still saves into the run while a process restores as its rank 0 (that job's step in flight
 * would lose its indexes).
 *
 * <p>The clean-up runs on its own thread as soon as the step is chosen, overlapping the chunk reads, and is done
 * before rank 0's restore returns.
 */
public final class StaleIndexCleanUp {
    private final Restorer restorer;
    private final List<Tier> tiers;
    private final CommitProtocol commits;
    private final int rank;
    private final Executor executor;
    private final Duration deadline;

    /** @param executor where the clean-up runs beside the chunk reads (the multi-rank commit threads) */
    public StaleIndexCleanUp(Restorer restorer, List<Tier> tiers, CommitProtocol commits, int rank, Executor executor,
                             Duration deadline) {
        this.restorer = restorer;
        this.tiers = tiers;
        this.commits = commits;
        this.rank = rank;
        this.executor = executor;
        this.deadline = deadline;
    }

    /** Restores as {@link Restorer#restore(RestoreRequest)} does; rank 0 removes every rank's stale indexes meanwhile. */
    public RestoreResult restore(RestoreRequest request) {
        if (rank != 0) {
            return restorer.restore(request); // rank 0 removes this rank's stale indexes (see the class)
        }
        CompletableFuture<Void> cleanUp = new CompletableFuture<>();
        AtomicBoolean started = new AtomicBoolean();
        try {
            return restorer.restore(request, step -> {
                started.set(true);
                try {
                    executor.execute(() -> {
                        try {
                            dropStaleIndexes(step);
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
            // dropStaleIndexes fails on nothing but an unreachable tier, which it skips
        }
    }

    /** Removes every rank's indexes of steps after {@code step} that never committed, in every tier. */
    private void dropStaleIndexes(long step) {
        for (Tier t : tiers) {
            try {
                java.util.Map<Long, List<String>> later = new java.util.TreeMap<>();
                for (ObjectInfo o : t.store().list(t.layout().stepsPrefix())) {
                    OptionalLong s = t.layout().stepOf(o.key());
                    if (s.isPresent() && s.getAsLong() > step && t.layout().rankOfIndexKey(o.key()).isPresent()) {
                        later.computeIfAbsent(s.getAsLong(), k -> new java.util.ArrayList<>()).add(o.key());
                    }
                }
                List<String> stale = new java.util.ArrayList<>();
                for (java.util.Map.Entry<Long, List<String>> e : later.entrySet()) {
                    if (!commits.isCommitted(t, e.getKey())) {
                        stale.addAll(e.getValue());
                    }
                }
                if (!stale.isEmpty()) {
                    t.store().deleteAll(stale);
                }
            } catch (IOException e) {
                // An unreachable tier: its stale indexes, if any, stay; the commit there fails or is retried later.
            }
        }
    }
}
