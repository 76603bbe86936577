package dev.cairn.tiers.internal.gc;

import dev.cairn.tiers.internal.Tier;
import java.io.IOException;
import java.util.OptionalLong;

/**
 * When the collection after a commit in one tier sweeps for orphans ({@link GarbageCollector#collect}) instead of
 * retiring from manifests: once {@code every} commits were counted since the tier's last sweep, whichever processes
 * made them. The count lives in the tier ({@link SweepMarker}), so that neither a restart nor a job's many processes
 * postpone the sweep, and a process's first commit costs one small GET instead of a listing of every chunk (1,381
 * pages at 10,000 simulated ranks): the first commit of each process used to sweep, which is what kept a job that
 * restarts more often than every {@code every} commits from never sweeping.
 *
 * <p>The marker is written ahead: whenever the commits counted reach what it holds, it is put with
 * {@code reserve = max(1, every / }{@value #RESERVE_SHARE}{@code )} more, so one PUT covers that many commits, and a
 * process that stops (crashes included) has counted at least every commit it made, at most {@code reserve} more. A
 * job that restarts after every commit therefore sweeps every {@code every / (reserve + 1)} processes (every 10 with
 * the default of 1,000), one that runs on every {@code every} commits: restarts bring a sweep nearer, never put it off.
 * A tier without a marker (a fresh one, or one only an older release swept) starts counting at its first commit. What
 * waits for the sweep: the files of saves that never committed, and the deletions a stopped process still had pending
 * (in its memory only), found up to {@code every} commits later instead of at the next process's first commit.
 */
final class SweepSchedule {
    /** The marker counts ahead by this share of the period: a PUT every {@code every / 10} commits. */
    static final int RESERVE_SHARE = 10;

    private final int every;
    private final long reserve;
    /** The count of the tier's marker when this process read it, less this process's commits up to its last sweep. */
    private long base;
    private boolean read;
    /** The count the marker holds, as this process last read or wrote it. */
    private long written;

    /** @param every commits between two sweeps, at least 1 */
    SweepSchedule(int every) {
        if (every < 1) {
            throw new IllegalArgumentException("every must be at least 1: " + every);
        }
        this.every = every;
        this.reserve = Math.max(1, every / RESERVE_SHARE);
    }

    /**
     * Whether the collection after this process's {@code commits}-th commit in {@code tier} sweeps. Reads the marker
     * at the first call (again after a failed read), and puts it ahead when what it counts is used up; a failed PUT is
     * tried again at the next commit.
     */
    synchronized boolean due(Tier tier, long commits) {
        if (!read) {
            OptionalLong held;
            try {
                held = SweepMarker.read(tier);
            } catch (IOException | RuntimeException e) {
                return false; // asked again after the next commit; the sweep waits at most that long
            }
            base = held.orElse(0);
            written = base;
            read = true;
        }
        long counted = base + commits;
        if (counted >= every) {
            return true;
        }
        if (counted >= written || written == Long.MAX_VALUE) {
            try {
                SweepMarker.write(tier, counted + reserve);
                written = counted + reserve;
            } catch (IOException | RuntimeException e) {
                // Counted again at the next commit.
            }
        }
        return false;
    }

    /**
     * A sweep of {@code tier} by this process after its {@code commits}-th commit there ended: counting restarts, and
     * the marker says so (best effort: one not written only brings the next sweep nearer).
     */
    synchronized void swept(Tier tier, long commits) {
        base = -commits;
        read = true;
        try {
            SweepMarker.write(tier, 0);
            written = 0;
        } catch (IOException | RuntimeException e) {
            written = Long.MAX_VALUE; // not known: put again at the next commit
        }
    }
}
