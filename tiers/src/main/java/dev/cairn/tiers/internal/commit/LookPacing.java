package dev.cairn.tiers.internal.commit;

/**
 * When a process of a large world sends the part of its look for the newest committed step ({@link StepMarks#newest})
 * that every process of the run sends to the same keys: after its own group of step marks held nothing, the listing
 * of the marks' groups and the listing of the step folders (a new run, a run written before marks, a reader world
 * larger than the writers'). Every process of a run looks at open, at once; at 10,000 ranks those two listings were
 * 10,000 requests each on one S3 prefix within a second, where S3 serves 5,500 (503 SlowDown beyond) and issue 15
 * allows no key more than 1,000.
 *
 * <p>The schedule, from the rank alone (no process knows what the others have sent): ranks below {@value #BURST_RANKS}
 * go at once, rank r from (r - {@value #BURST_RANKS}) / {@value #RANKS_PER_SECOND} s after its look started. Each rank
 * sends one request to each of those keys, so no key is asked more than {@value #BURST_RANKS} +
 * {@value #RANKS_PER_SECOND} times in a second; the last of 10,000 ranks waits 12.4 s, of 1,000 ranks 1.1 s, and a
 * world of up to {@value #BURST_RANKS} ranks not at all. The look at open runs on the tier's I/O thread, so the wait is
 * the caller's only where it looks itself (a restore of a new run, which then reports that nothing is committed). A
 * store in the process's own memory is not paced: no other process asks it.
 */
final class LookPacing {
    /** Ranks whose look goes on at once. */
    static final int BURST_RANKS = 100;
    /** Ranks a second after those. */
    static final int RANKS_PER_SECOND = 800;
    private static final long SECOND_NANOS = 1_000_000_000L;

    private LookPacing() {
    }

    /** Nanoseconds after its look's start before which rank {@code rank} sends the shared part. */
    static long dueNanos(int rank) {
        return Math.max(0, rank - BURST_RANKS) * SECOND_NANOS / RANKS_PER_SECOND;
    }

    /** Waits on {@code clock} until rank {@code rank}'s turn, its look having started at {@code began}. */
    static void awaitTurn(WaitClock clock, long began, int rank) {
        long due = began + dueNanos(rank);
        for (long wait = due - clock.nanoTime(); wait > 0; wait = due - clock.nanoTime()) {
            clock.pause(wait);
        }
    }
}
