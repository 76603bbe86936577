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

    /** Persists within {@code grace}; returns the tiers the newest step was committed into here, for tests and the log. */
    public List<String> persist(Duration grace) {
        long until = System.nanoTime() + grace.toNanos();
        List<String> persisted = new ArrayList<>();
        if (tiers.size() < 2) {
            return persisted;
        }
        // Not refused when closing: a close() that runs while the JVM shuts down waits for this before it stops the tiers.
        if (!inFlight.awaitAll(until)) {
            return persisted; // interrupted
        }
        // A step that failed, or is still going, does not stop the newest committed one from being persisted below.
        Tier first = tiers.get(0);
        try {
            long newest;
            Map<String, CompletableFuture<CommitReport>> promotions = new LinkedHashMap<>();
            // Under the first tier's commit lock until each promotion has pinned the step's chunks there (it does so
            // before start returns): a save committing meanwhile would otherwise let retention delete chunks of the
            // step read here before they are pinned. The order (the first tier's lock, then a target's) is a commit's.
            // Within the grace: a commit or sweep may hold the lock for long (a multi-rank commit confirming chunks
            // while a peer is down), and a callback of a commit holds it while it runs.
            if (!first.commitLock().tryLock(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                LOG.warn("on shutdown, tier {} was busy committing for the whole grace of {}: nothing persisted",
                        first.name(), grace);
                return persisted;
            }
            try {
                newest = commits.newestCommitted(first, rank, worldSize); // its group's marks, not a listing
                if (newest < 0) {
                    return persisted;
                }
                Manifest m = ownPart(commits.read(first, newest));
                for (Tier target : tiers.subList(1, tiers.size())) {
                    if (!commits.isCommitted(target, newest)) {
                        CompletableFuture<CommitReport> done = new CompletableFuture<>();
                        promotion.start(m, first, target, done, () -> true);
                        promotions.put(target.name(), done);
                    }
                }
            } finally {
                first.commitLock().unlock();
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
        return persisted;
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
