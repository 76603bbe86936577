package dev.cairn.tiers.internal.promote;

import dev.cairn.CommitReport;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import dev.cairn.tiers.internal.commit.TierCommitter;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.pipeline.InFlightSaves;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * {@code CairnConfig.Builder#persistOnShutdown}, run as a JVM shutdown hook: waits for the saves in flight (their
 * first tier and the promotions they started), then promotes the newest step committed in the first tier to each
 * slower tier that lacks it, whatever its interval, and waits for those commits; all within the grace. What has not
 * committed by then is left uncommitted (a promotion writes its MANIFEST last) and the JVM goes on exiting.
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
        try {
            long newest;
            Manifest whole;
            Map<String, CompletableFuture<CommitReport>> promotions = new LinkedHashMap<>();
            List<Tier> holding = new ArrayList<>(); // hold the step already: compared below, outside the lock
            // Under the first tier's commit lock until each promotion has pinned the step's chunks there (it does so
            // before start returns): a save committing meanwhile would otherwise let retention delete chunks of the
            // step read here before they are pinned. The order (the first tier's lock, then a target's) is a commit's.
            // Within the grace: a commit or sweep may hold the lock for long (a multi-rank commit confirming chunks
            // while a peer is down), and a callback of a commit holds it while it runs.
            if (!first.commitLock().tryLock(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                LOG.warn("on shutdown, tier {} was busy committing for the whole grace of {}: nothing persisted",
                        first.name(), grace);
                return outcome;
            }
            try {
                newest = commits.newestCommitted(first, rank, worldSize); // its group's marks, not a listing
                if (newest < 0) {
                    return outcome;
                }
                whole = commits.read(first, newest);
                Manifest m = ownPart(whole);
                for (Tier target : tiers.subList(1, tiers.size())) {
                    if (!commits.isCommitted(target, newest)) {
                        CompletableFuture<CommitReport> done = new CompletableFuture<>();
                        promotion.start(m, first, target, done, () -> true);
                        promotions.put(target.name(), done);
                    } else {
                        holding.add(target);
                    }
                }
            } finally {
                first.commitLock().unlock();
            }
            for (Tier target : holding) {
                try {
                    Manifest there = commits.readGlobal(target, newest);
                    if (!whole.sameCommitAs(there)) {
                        anotherCommit.add(target.name());
                        LOG.warn("on shutdown, step {} in tier {} is another commit of that step (made at {}, not {}); not"
                                        + " persisted there: once tier {} is gone, a restore of step {} gets that commit's"
                                        + " state", newest, target.name(), there.createdAt(), whole.createdAt(), first.name(),
                                newest);
                    }
                } catch (IOException | RuntimeException e) {
                    LOG.warn("on shutdown, step {} in tier {} could not be compared with tier {}'s ({}); not counted as"
                            + " persisted there", newest, target.name(), first.name(), e.toString());
                }
            }
            for (Map.Entry<String, CompletableFuture<CommitReport>> p : promotions.entrySet()) {
                try {
                    p.getValue().get(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS);
                    persisted.add(p.getKey());
                } catch (ExecutionException | TimeoutException e) {
                    LOG.warn("on shutdown, step {} was not persisted into tier {} within {}: {}", newest, p.getKey(), grace,
                            e instanceof ExecutionException ? e.getCause() : "out of time");
                }
            }
            LOG.info("on shutdown, step {} persisted into {}", newest, persisted);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException | RuntimeException e) {
            LOG.warn("on shutdown, the newest step of tier {} could not be persisted: {}", first.name(), e.toString());
        }
        return outcome;
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
