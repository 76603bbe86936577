package dev.cairn.tiers.internal.gc;

import dev.cairn.GcReport;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.commit.TierCommitter;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.ObjLongConsumer;
import java.util.function.Supplier;

/**
 * Retention and GC of a running checkpointer's tiers, run by each tier's {@link TierCommitter}: after every commit on
 * rank 0, and when the API's {@code gc} asks. Only rank 0 collects; the other ranks only report.
 *
 * <p>After a commit the collection learns what to delete from the manifests of the steps it retires
 * ({@link GarbageCollector#retire}: no listing). Once {@code gcSweepEvery} commits were counted in a tier since its last
 * sweep, by this process and those before it, and at every collection asked for, it sweeps the whole tier instead
 * ({@link GarbageCollector#collect}), which also finds what no manifest names. The count is kept in the tier
 * ({@link SweepSchedule}), so a job that restarts often still sweeps, and no process's first commit lists every chunk.
 *
 * <p>In a multi-rank run rank 0 collects as an outsider ({@link GarbageCollector.Collector#OUTSIDER}): it cannot see
 * the other ranks' pins, so chunks only retired steps named also wait out the grace period (in a tier in memory, one
 * collection: a grace of minutes there kept every step of those minutes in memory), it retires no step that its own
 * promotion is copying out of the tier (the other ranks' promotions read their parts of it there:
 * {@code Tier#holdWhilePromoted}), and its commit asks the store again for the chunks the ranks name that its collections
 * deleted meanwhile. Such a collection is as safe beside this process's commits as
 * the command line's {@code gc} beside a writer, so it runs on a thread of its own instead of under the commit lock:
 * listing and sweeping a peer tier takes many round trips, which the next step's commit would otherwise wait for.
 * Requests that come while one is queued are served by that one.
 */
public final class Retention implements TierCommitter.Retention {
    private final GarbageCollector collector;
    private final Duration grace;
    private final int sweepEvery;
    private final int rank;
    private final GarbageCollector.Collector role;
    private final Supplier<Set<Long>> stepsInFlight;
    /** Told of every collection after a commit that ends, with the nanoTime it began (events and metrics). */
    private final ObjLongConsumer<GcReport> collected;
    /** Rank 0 of a multi-rank run collects on this thread, off the commit path; null otherwise. */
    private final ExecutorService background;
    /** Tiers (by index) with a background collection queued and not started yet. */
    private final Set<Integer> queued = ConcurrentHashMap.newKeySet();
    /** Commits in each tier (by index) since this checkpointer opened, counted towards its sweeps. */
    private final Map<Integer, AtomicLong> commits = new ConcurrentHashMap<>();
    /** When each tier (by index) is swept ({@link SweepSchedule}); none with {@code sweepEvery} 0. */
    private final Map<Integer, SweepSchedule> schedules = new ConcurrentHashMap<>();
    private volatile boolean closed;
    private volatile Throwable lastFailure;

    /**
     * @param sweepEvery    a sweep after every this-many commits in a tier, counted in the tier across processes
     *                      ({@link SweepSchedule}); 0: only when asked
     * @param stepsInFlight the steps this process is saving now, never taken for abandoned
     * @param background    where rank 0 of a multi-rank run collects; null to collect in place, under the commit lock
     * @param collected     told of each collection after a commit, with the {@code System.nanoTime()} it began
     */
    public Retention(GarbageCollector collector, Duration grace, int sweepEvery, int rank, boolean multiRank,
                     Supplier<Set<Long>> stepsInFlight, ExecutorService background, ObjLongConsumer<GcReport> collected) {
        this.collector = collector;
        this.grace = grace;
        this.sweepEvery = sweepEvery;
        this.rank = rank;
        this.role = multiRank ? GarbageCollector.Collector.OUTSIDER : GarbageCollector.Collector.WRITER;
        this.stepsInFlight = stepsInFlight;
        this.background = background;
        this.collected = collected;
    }

    @Override
    public void afterCommit(Tier tier, long step) {
        if (rank != 0) {
            return;
        }
        // Recorded now, on the committing thread: a background collection must hold every step committed before it.
        collector.committed(tier, step);
        commits.computeIfAbsent(tier.index(), i -> new AtomicLong()).incrementAndGet();
        if (background == null) {
            collectQuietly(tier);
            return;
        }
        if (queued.add(tier.index())) {
            try {
                background.execute(() -> {
                    queued.remove(tier.index()); // a commit from now on asks for a collection after this one
                    if (!closed) {
                        collectQuietly(tier);
                    }
                });
            } catch (RejectedExecutionException closing) {
                queued.remove(tier.index());
            }
        }
    }

    @Override
    public void commitFailed(Tier tier, long step) {
        if (rank == 0) {
            // The MANIFEST may be there (a create whose answer was lost): the next collection lists the steps and
            // reads their MANIFESTs again rather than take this step's chunks for unused.
            collector.forget(tier);
        }
    }

    @Override
    public GcReport collect(Tier tier, boolean dryRun) throws IOException {
        if (closed) {
            // Under the tier's commit lock: a collection asked for before close began, that got the lock after it.
            throw new dev.cairn.CheckpointException(dev.cairn.CheckpointException.Reason.CLOSED,
                    "gc of tier " + tier.name() + " stopped: the checkpointer is closing");
        }
        // Ranks other than 0 only report: rank 0 is the run's collector.
        long counted = commitsIn(tier);
        GcReport report = collector.collect(tier, grace, stepsInFlight.get(), dryRun || rank != 0, role);
        if (!dryRun && rank == 0 && sweepEvery > 0) {
            schedule(tier).swept(tier, counted);
        }
        return report;
    }

    private void collectQuietly(Tier tier) {
        long counted = commitsIn(tier);
        boolean sweep = sweepEvery > 0 && schedule(tier).due(tier, counted);
        try {
            long began = System.nanoTime();
            GcReport report = sweep ? collector.collect(tier, grace, stepsInFlight.get(), false, role)
                    : collector.retire(tier, grace, role);
            if (sweep) {
                schedule(tier).swept(tier, counted);
            }
            collected.accept(report, began);
        } catch (Throwable e) {
            // A failed collection deletes nothing a kept step names; the next one retries (a failed sweep is still
            // due: what it left half done only a sweep may find). Kept for diagnosis.
            lastFailure = e;
        }
    }

    private long commitsIn(Tier tier) {
        AtomicLong n = commits.get(tier.index());
        return n == null ? 0 : n.get();
    }

    private SweepSchedule schedule(Tier tier) {
        return schedules.computeIfAbsent(tier.index(), i -> new SweepSchedule(sweepEvery));
    }

    /** The last failure of a collection after a commit, or null. */
    public Throwable lastFailure() {
        return lastFailure;
    }

    /** From now on, queued background collections do not start (the checkpointer is closing). */
    public void closing() {
        closed = true;
    }

    /**
     * Stops the background collections. One cut short deletes nothing that a kept step names; what it had still to
     * delete (and what this process had pending) is left in the store until a sweep finds it: the next scheduled one
     * ({@link SweepSchedule}, counted across processes), or {@code cairn gc}.
     */
    public void close() {
        closed = true;
        if (background != null) {
            background.shutdownNow();
            try {
                background.awaitTermination(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
