package dev.cairn.tiers.internal.commit;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.CommitReport;
import dev.cairn.GcReport;
import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.pipeline.SaveJob;
import java.io.IOException;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.BooleanSupplier;

/**
 * The one owner of a tier's commits in a running checkpointer. Everything that changes which steps the tier holds
 * runs through it, under the tier's commit lock: the commit of a save in the tier the pipeline wrote (which then
 * starts the step's promotions to the slower tiers), the commit of a step promoted into the tier once its chunks are
 * copied, and retention and garbage collection (after each commit, and when asked). The commit itself is
 * {@link CommitProtocol}'s; the MANIFEST is created in one place, {@link CommitPoint}.
 *
 * <p>Threads: a save's commit runs on the thread its last chunk was written on (one of the tier's I/O threads), or,
 * in a multi-rank run, on a thread of its own ({@code rankCommits}): such a commit waits for the other ranks, and
 * must not hold an I/O thread whose writes (of this step in another tier, or of the next steps) they may be waiting
 * for.
 */
public final class TierCommitter {
    /** Retention and GC of a tier, which the committer runs under the tier's commit lock. */
    public interface Retention {
        /**
         * After each commit in {@code tier}, of {@code step} (whose MANIFEST is in the commit cache): applies retention,
         * now or in the background.
         */
        void afterCommit(Tier tier, long step);

        /**
         * A commit of {@code step} in {@code tier} failed after its MANIFEST create may have been attempted: the step
         * may be committed all the same (an unknown outcome), so what retention knows of the tier's steps is no longer
         * to be trusted.
         */
        void commitFailed(Tier tier, long step);

        /** A collection asked for (the API's {@code gc}). */
        GcReport collect(Tier tier, boolean dryRun) throws IOException;
    }

    /** Starts copying a step committed in {@code source} to the slower {@code target}. */
    @FunctionalInterface
    public interface Promotion {
        void start(Manifest manifest, Tier source, Tier target, CompletableFuture<CommitReport> done, BooleanSupplier claim);
    }

    private final Tier tier;
    private final CommitProtocol commits;
    private final String run;
    private final Retention retention;
    private final Executor rankCommits;

    /**
     * @param rankCommits where a multi-rank save commits; null in a single-rank run, whose save commits in place
     */
    public TierCommitter(Tier tier, CommitProtocol commits, String run, Retention retention, Executor rankCommits) {
        this.tier = tier;
        this.commits = commits;
        this.run = run;
        this.retention = retention;
        this.rankCommits = rankCommits;
    }

    public Tier tier() {
        return tier;
    }

    /**
     * Every chunk of {@code job} is written to this tier, its first (its bytes durable; the commit makes the names
     * durable), or failed: commits the step here and starts its promotions. Called on one of the tier's I/O threads.
     */
    public void saved(SaveJob job, Promotion promotion) {
        if (rankCommits == null) {
            commitSave(job, promotion);
            return;
        }
        try {
            rankCommits.execute(() -> commitSave(job, promotion));
        } catch (RuntimeException rejected) {
            CheckpointException closed = new CheckpointException(Reason.CLOSED,
                    "tier " + tier.name() + " stopped before step " + job.step() + " committed");
            job.committed(0).completeExceptionally(closed);
            failPromotions(job, closed);
            job.unpin();
        }
    }

    private void commitSave(SaveJob job, Promotion promotion) {
        CompletableFuture<CommitReport> future = job.committed(0);
        tier.commitLock().lock();
        try {
            Throwable failure = job.firstTierFailure();
            if (failure != null) {
                CheckpointException e = asCheckpointException(job.step(), failure);
                future.completeExceptionally(e);
                failPromotions(job, e);
                return;
            }
            if (!job.claimCommit(0)) {
                failPromotions(job, new CheckpointException(Reason.TIMEOUT, "step " + job.step() + " expired before it committed"));
                return;
            }
            Manifest m = job.manifest(run, Instant.now());
            future.complete(commits.commit(tier, m, job.putHashes(), job.chunksWritten(), job.bytesWritten()));
            if (tier.closed()) {
                // A callback of that future closed the checkpointer, on this thread (see Lifecycle#close): it failed
                // the slower tiers' commits; no promotion or collection starts after close.
                failPromotions(job, new CheckpointException(Reason.CLOSED, "checkpointer closed after step " + job.step()
                        + " committed in tier " + tier.name()));
                return;
            }
            for (int slower = 1; slower < job.tierCount(); slower++) {
                int target = slower;
                promotion.start(m, tier, job.tier(slower), job.committed(slower), () -> job.claimCommit(target));
            }
            retention.afterCommit(tier, job.step());
        } catch (Throwable e) {
            CheckpointException c = asCheckpointException(job.step(), e);
            retention.commitFailed(tier, job.step());
            future.completeExceptionally(c);
            failPromotions(job, c);
            if (rankCommits != null) {
                forgetReused(job);
            }
        } finally {
            job.unpin();
            tier.releaseKeptPins(job.step()); // a multi-rank commit's pins, now that retention holds the step
            tier.commitLock().unlock();
        }
    }

    /**
     * The chunks of {@code manifest} are copied into this tier (or {@code error} says why not): commits it here
     * unless the save's deadline or close claimed the tier first ({@code claim}), and completes {@code done}.
     * {@code settled} runs once the commit has an outcome, before {@code done} completes (it lets the source tier retire
     * the step: {@link Tier#holdWhilePromoted}).
     *
     * @param written the chunks the promotion put into this tier itself (the others it found stored there)
     */
    public void promoted(Manifest manifest, java.util.Set<String> written, long chunksWritten, long bytesWritten,
                         Throwable error, CompletableFuture<CommitReport> done, BooleanSupplier claim, Runnable settled) {
        tier.commitLock().lock();
        try {
            if (error != null) {
                settled.run();
                done.completeExceptionally(promotionFailure(manifest, error));
            } else if (tier.closed()) {
                settled.run();
                done.completeExceptionally(new CheckpointException(Reason.CLOSED, "checkpointer closed before step "
                        + manifest.step() + " was promoted to tier " + tier.name()));
            } else if (claim.getAsBoolean()) {
                CommitReport report = commits.commitPromoted(tier, manifest, written, chunksWritten, bytesWritten);
                settled.run();
                done.complete(report);
                if (!tier.closed()) { // closed by a callback of done, on this thread: no collection after close
                    retention.afterCommit(tier, manifest.step());
                }
            }
        } catch (Throwable t) {
            settled.run();
            retention.commitFailed(tier, manifest.step());
            done.completeExceptionally(promotionFailure(manifest, t));
        } finally {
            tier.releaseKeptPins(manifest.step()); // as in commitSave
            tier.commitLock().unlock();
        }
    }

    /** A collection asked for: retention and GC of this tier, apart from its commits. */
    public GcReport collect(boolean dryRun) throws IOException {
        tier.commitLock().lock();
        try {
            return retention.collect(tier, dryRun);
        } finally {
            tier.commitLock().unlock();
        }
    }

    private static void failPromotions(SaveJob job, CheckpointException cause) {
        for (int slower = 1; slower < job.tierCount(); slower++) {
            job.committed(slower).completeExceptionally(new CheckpointException(cause.reason(), "step " + job.step()
                    + " did not commit in tier " + job.tier(0).name() + ", so it is not promoted to " + job.tier(slower).name()
                    + ": " + cause.getMessage(), cause));
        }
    }

    /**
     * After a failed multi-rank commit: this rank may have counted on chunks another process's GC removed, which its
     * catalog cannot see; it forgets them, so the next save writes (or finds) them again.
     */
    private void forgetReused(SaveJob job) {
        try {
            ChunkCatalog catalog = tier.catalog();
            for (int i = 0; i < job.chunkCount(); i++) {
                String h = job.hashOf(i);
                if (h != null) {
                    catalog.forget(h);
                }
            }
        } catch (IOException e) {
            // The catalog was loaded when the save took its pins.
        }
    }

    private CheckpointException asCheckpointException(long step, Throwable e) {
        if (e instanceof CheckpointException c) {
            return c;
        }
        if (e instanceof java.util.concurrent.CompletionException && e.getCause() != null) {
            return asCheckpointException(step, e.getCause());
        }
        return new CheckpointException(Reason.STORAGE, "step " + step + " failed in tier " + tier.name() + ": " + e, e);
    }

    private CheckpointException promotionFailure(Manifest m, Throwable t) {
        if (t instanceof CheckpointException c) {
            return c;
        }
        return new CheckpointException(Reason.STORAGE, "promotion of step " + m.step() + " to tier " + tier.name()
                + " failed: " + t, t);
    }
}
