package dev.cairn.tiers.internal.promote;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.CommitReport;
import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import dev.cairn.tiers.internal.commit.TierCommitter;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.pipeline.InFlightSaves;
import dev.cairn.tiers.internal.pipeline.SaveJob;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@code CairnConfig.Builder#persistOnShutdown}, run as a JVM shutdown hook: waits for the saves in flight (their
 * first tier and the promotions they started), then promotes the newest step committed in the first tier to each
 * slower tier that lacks it, whatever its interval, and waits for those commits; all within the grace. What has not
 * committed by then is left uncommitted (a promotion writes its MANIFEST last, and commits only if it claims the tier
 * within the grace: {@link Grace}) and the JVM goes on exiting. Where a save still in flight is promoting the step into
 * a tier, the hook waits for that promotion instead of starting its own.
 *
 * <p>A slower tier that holds the step already holds it persisted only if it is the same commit
 * ({@link Manifest#sameCommitAs}): another commit of the same step number (an earlier run's, before a rewind to an
 * older step that reached the step again) would be restored as the step once the first tier is gone. It cannot be
 * replaced (a MANIFEST is created once): the step is counted as not persisted there, with a warning.
 */
public final class PersistNewest {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(PersistNewest.class);

    private final List<Tier> tiers;
    private final CommitProtocol commits;
    private final InFlightSaves inFlight;
    private final TierCommitter.Promotion promotion;
    private final int rank;
    private final int worldSize;

    /**
     * @param promotion how a step is promoted into a slower tier: through that tier's commit owner
     * @param rank      this process's rank, which picks its group of step marks ({@code StepMarks})
     * @param worldSize ranks of this run
     */
    public PersistNewest(List<Tier> tiers, CommitProtocol commits, InFlightSaves inFlight, TierCommitter.Promotion promotion,
                         int rank, int worldSize) {
        this.tiers = tiers;
        this.commits = commits;
        this.inFlight = inFlight;
        this.promotion = promotion;
        this.rank = rank;
        this.worldSize = worldSize;
    }

    /**
     * What a run of {@link #persist} did with the newest step of the first tier.
     *
     * @param persisted      the slower tiers the step was committed into by this run
     * @param anotherCommit  the slower tiers that hold another commit of the same step number, where it is not persisted
     */
    public record Outcome(List<String> persisted, List<String> anotherCommit) {
    }

    /** Persists within {@code grace}; returns the tiers the newest step was committed into here, for tests and the log. */
    public List<String> persist(Duration grace) {
        return persistNewest(grace).persisted();
    }

    /** {@link #persist}, telling also where another commit of the step kept it from being persisted. */
    public Outcome persistNewest(Duration grace) {
        long until = System.nanoTime() + grace.toNanos();
        List<String> persisted = new ArrayList<>();
        List<String> anotherCommit = new ArrayList<>();
        Outcome outcome = new Outcome(persisted, anotherCommit);
        if (tiers.size() < 2) {
            return outcome;
        }
        // Not refused when closing: a close() that runs while the JVM shuts down waits for this before it stops the tiers.
        if (!inFlight.awaitAll(until)) {
            return outcome; // interrupted
        }
        // A step that failed, or is still going, does not stop the newest committed one from being persisted below.
        Tier first = tiers.get(0);
        // Checked before the lock too: a tryLock given no time left still takes a free lock, and a promotion started
        // now could not commit (its claim refuses once the grace is spent) but would still copy the step.
        if (spent(until)) {
            LOG.warn("on shutdown, the saves in flight took the whole grace of {}: nothing persisted", grace);
            return outcome;
        }
        Newest newest;
        try {
            newest = newest(first, until, grace);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return outcome;
        } catch (IOException | RuntimeException e) {
            LOG.warn("on shutdown, the newest step of tier {} could not be persisted: {}", first.name(), e.toString());
            return outcome;
        }
        if (newest == null) {
            return outcome;
        }
        Grace within = new Grace(until, newest.step());
        Map<String, CompletableFuture<Result>> results = toTargets(first, newest, within);
        try {
            for (Map.Entry<String, CompletableFuture<Result>> r : results.entrySet()) {
                try {
                    Result result = r.getValue().get(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS);
                    if (result == Result.PERSISTED) {
                        persisted.add(r.getKey());
                    } else if (result == Result.ANOTHER_COMMIT) {
                        anotherCommit.add(r.getKey());
                    }
                } catch (ExecutionException | TimeoutException e) {
                    LOG.warn("on shutdown, step {} was not persisted into tier {} within {}: {}", newest.step(), r.getKey(),
                            grace, e instanceof ExecutionException ? e.getCause() : "out of time");
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            List<String> underWay = within.end();
            if (!underWay.isEmpty()) {
                LOG.warn("on shutdown, the commit of step {} into {} began within the grace of {} and had not ended at its"
                        + " end: it may still commit there", newest.step(), underWay, grace);
            }
        }
        LOG.info("on shutdown, step {} persisted into {}", newest.step(), persisted);
        return outcome;
    }

    private static boolean spent(long until) {
        return System.nanoTime() - until >= 0;
    }

    /**
     * The newest step committed in {@code first}, read and pinned there under its commit lock, which the hook holds for
     * that alone: a save committing meanwhile would otherwise let retention delete chunks of the step read here before
     * they are pinned, and every save's first-tier commit waits for that lock, so nothing of the slower tiers is asked
     * under it (a HEAD of an S3 tier that does not answer at SIGTERM would hold every save for as long). The order (the
     * first tier's lock, then a target's) is a commit's. Null when there is nothing to persist, or no time left.
     *
     * <p>The lock is taken within the grace: a commit or sweep may hold it for long (a multi-rank commit confirming
     * chunks while a peer is down), and a callback of a commit holds it while it runs. What is read under it is of the
     * first tier only (its step marks and MANIFEST, this rank's index): that I/O is not bounded by the grace.
     */
    private Newest newest(Tier first, long until, Duration grace) throws IOException, InterruptedException {
        if (!first.commitLock().tryLock(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS)) {
            LOG.warn("on shutdown, tier {} was busy committing for the whole grace of {}: nothing persisted",
                    first.name(), grace);
            return null;
        }
        try {
            if (spent(until)) { // the lock was free, but no time was left
                LOG.warn("on shutdown, the grace of {} was spent before tier {}'s newest step was read: nothing persisted",
                        grace, first.name());
                return null;
            }
            long step = commits.newestCommitted(first, rank, worldSize); // its group's marks, not a listing
            if (step < 0) {
                return null;
            }
            Manifest global = commits.readGlobal(first, step);
            // This rank's rows only: the whole step (commits.read) would read every rank's index to keep this one's.
            Manifest own = ownPart(commits.withRanks(first, global, Set.of(rank)));
            return new Newest(step, global, own, savesPromoting(step), pin(first, own));
        } finally {
            first.commitLock().unlock();
        }
    }

    /**
     * The commits of slower tiers, by tier index, that a save still in flight is promoting {@code step} into: the
     * hook waits for those instead of starting a second promotion of the step into the same tier, which would copy
     * it again and fail the save's own promotion (CONFLICT) should the hook's commit come first. Called under the
     * first tier's commit lock, where a save of the step that committed there has started its promotions.
     */
    private Map<Integer, CompletableFuture<CommitReport>> savesPromoting(long step) {
        Map<Integer, CompletableFuture<CommitReport>> saving = new HashMap<>();
        for (SaveJob job : inFlight.jobs()) {
            CompletableFuture<CommitReport> firstTier = job.committed(0);
            if (job.step() != step || !firstTier.isDone() || firstTier.isCompletedExceptionally()) {
                continue; // another step, or a save of this step number that has not committed it in the first tier
            }
            for (int t = 1; t < job.tierCount(); t++) {
                CompletableFuture<CommitReport> committed = job.committed(t);
                if (!committed.isDone()) {
                    saving.put(job.tier(t).index(), committed.copy());
                }
            }
        }
        return saving;
    }

    /**
     * Pins the chunks of {@code own} in {@code first} (and marks the step promoted out of it, for rank 0's collector:
     * {@link Tier#holdWhilePromoted}) until the returned release runs: once each promotion has pinned them itself,
     * which it does before {@code start} returns, or been given up.
     */
    private static Runnable pin(Tier first, Manifest own) throws IOException {
        ChunkCatalog catalog = first.catalog();
        Set<String> hashes = own.referencedHashes();
        for (String h : hashes) {
            catalog.pin(h);
        }
        Runnable promotedOut = first.holdWhilePromoted(own.step());
        AtomicBoolean released = new AtomicBoolean();
        return () -> {
            if (released.compareAndSet(false, true)) {
                promotedOut.run();
                for (String h : hashes) {
                    catalog.unpin(h);
                }
            }
        };
    }

    /**
     * Outside the first tier's lock, on a thread per slower tier (a daemon: the hook does not wait past its grace for a
     * store that does not answer): whether the tier holds the step (a HEAD, then a read to compare it), else a
     * promotion of it there, or the save's own where one is under way. Returns each tier's result, by name.
     */
    private Map<String, CompletableFuture<Result>> toTargets(Tier first, Newest newest, Grace within) {
        List<Tier> targets = tiers.subList(1, tiers.size());
        Map<String, CompletableFuture<Result>> results = new LinkedHashMap<>();
        AtomicInteger left = new AtomicInteger(targets.size());
        for (Tier target : targets) {
            CompletableFuture<Result> result = new CompletableFuture<>();
            results.put(target.name(), result);
            Runnable task = () -> {
                try {
                    toTarget(first, target, newest, within, result);
                } catch (Throwable t) {
                    result.completeExceptionally(t);
                } finally {
                    if (left.decrementAndGet() == 0) {
                        newest.release().run(); // each promotion holds its own pins by now
                    }
                }
            };
            try {
                Thread t = new Thread(task, "cairn-persist-on-shutdown-" + target.name());
                t.setDaemon(true);
                t.start();
            } catch (RuntimeException | OutOfMemoryError e) {
                task.run();
            }
        }
        return results;
    }

    private void toTarget(Tier first, Tier target, Newest newest, Grace within, CompletableFuture<Result> result)
            throws IOException {
        long step = newest.step();
        CompletableFuture<CommitReport> saving = newest.saving().get(target.index());
        if (saving != null) {
            saving.whenComplete((r, e) -> {
                if (e == null) {
                    result.complete(Result.PERSISTED);
                } else {
                    result.completeExceptionally(e);
                }
            });
            return;
        }
        if (!commits.isCommitted(target, step)) {
            CompletableFuture<CommitReport> done = within.started(target.name());
            if (done == null) {
                result.complete(Result.NOT_PERSISTED); // the hook gave up before this tier answered
                return;
            }
            done.whenComplete((r, e) -> {
                if (e == null) {
                    result.complete(Result.PERSISTED);
                } else {
                    result.completeExceptionally(e);
                }
            });
            promotion.start(newest.own(), first, target, done, () -> within.claim(target.name(), done));
            return;
        }
        Manifest there;
        try {
            there = commits.readGlobal(target, step);
        } catch (IOException | RuntimeException e) {
            LOG.warn("on shutdown, step {} in tier {} could not be compared with tier {}'s ({}); not counted as"
                    + " persisted there", step, target.name(), first.name(), e.toString());
            result.complete(Result.NOT_PERSISTED);
            return;
        }
        if (newest.global().sameCommitAs(there)) {
            result.complete(Result.HELD);
            return;
        }
        LOG.warn("on shutdown, step {} in tier {} is another commit of that step (made at {}, not {}); not persisted"
                        + " there: once tier {} is gone, a restore of step {} gets that commit's state", step,
                target.name(), there.createdAt(), newest.global().createdAt(), first.name(), step);
        result.complete(Result.ANOTHER_COMMIT);
    }

    /** What became of the step in one slower tier. */
    private enum Result {
        /** Committed there within the grace, by the hook's promotion or the save's own. */
        PERSISTED,
        /** The tier held this commit of the step already. */
        HELD,
        /** The tier holds another commit of the step number ({@link Manifest#sameCommitAs}). */
        ANOTHER_COMMIT,
        /** Not committed there by the hook, and not to be. */
        NOT_PERSISTED
    }

    /**
     * The newest step of the first tier, as read under its lock: its MANIFEST as stored ({@code global}, for
     * {@link Manifest#sameCommitAs}), this rank's part of it ({@code own}, what is promoted), the saves' promotions of
     * it under way, and the release of the pins taken on it.
     */
    private record Newest(long step, Manifest global, Manifest own, Map<Integer, CompletableFuture<CommitReport>> saving,
                          Runnable release) {
    }

    /**
     * The grace of one run of the hook, and who may still commit in it. A promotion the hook started commits only if
     * its claim ({@link #claim}, asked by the target's committer right before the commit) comes within the grace and
     * before the hook has returned; otherwise the committer drops it, nothing of it committed (its MANIFEST is written
     * last, and the index only by the commit), and its copied chunks are left for GC. Before, the claim always said yes:
     * a promotion the hook had given up on, and reported not persisted, still committed afterwards while the JVM went on
     * exiting (another hook, a close), and a hook still running when the process was killed left whatever it reached.
     */
    private static final class Grace {
        private final long until;
        private final long step;
        private boolean over;
        /** The promotions started, by tier name, each with whether its commit was claimed. */
        private final Map<String, CompletableFuture<CommitReport>> started = new LinkedHashMap<>();
        private final Set<String> claimed = new java.util.HashSet<>();

        Grace(long until, long step) {
            this.until = until;
            this.step = step;
        }

        /** The future of a promotion into {@code tier} about to start; null once the hook has given up. */
        synchronized CompletableFuture<CommitReport> started(String tier) {
            if (over || spent(until)) {
                return null;
            }
            CompletableFuture<CommitReport> done = new CompletableFuture<>();
            started.put(tier, done);
            return done;
        }

        /** The promotion into {@code tier} may commit: it is within the grace, and the hook has not given up. */
        boolean claim(String tier, CompletableFuture<CommitReport> done) {
            synchronized (this) {
                if (!over && !spent(until)) {
                    claimed.add(tier);
                    return true;
                }
            }
            done.completeExceptionally(outOfTime(tier));
            return false;
        }

        /**
         * The hook returns: nothing claims a commit from now on, and each promotion that has not is failed now (its
         * copies not begun are skipped). Returns the tiers whose commit was claimed and had not ended.
         */
        List<String> end() {
            Map<String, CompletableFuture<CommitReport>> unclaimed = new LinkedHashMap<>();
            List<String> underWay = new ArrayList<>();
            synchronized (this) {
                over = true;
                started.forEach((tier, done) -> {
                    if (!claimed.contains(tier)) {
                        unclaimed.put(tier, done);
                    } else if (!done.isDone()) {
                        underWay.add(tier);
                    }
                });
            }
            unclaimed.forEach((tier, done) -> done.completeExceptionally(outOfTime(tier)));
            return underWay;
        }

        private CheckpointException outOfTime(String tier) {
            return new CheckpointException(Reason.TIMEOUT, "the shutdown hook's grace ended before step " + step
                    + " was committed in tier " + tier + "; it is not committed there");
        }
    }

    /**
     * What this rank promotes of {@code whole} (a step as read back, every rank's entries): its own entries, as its
     * save's promotion does, so that each rank's hook writes its own index and the target's commit meets every rank's.
     * Promoting the whole step from every rank wrote rank 0's index N times and no other, and the commit waited out its
     * deadline for the others.
     */
    private Manifest ownPart(Manifest whole) {
        if (worldSize == 1) {
            return whole;
        }
        List<EntryRecord> own = whole.entries().stream().filter(e -> e.rank() == rank).toList();
        return new Manifest(whole.formatVersion(), whole.contentHash(), whole.run(), whole.step(), whole.worldSize(), rank,
                whole.createdAt(), whole.chunkBytes(), own);
    }
}
