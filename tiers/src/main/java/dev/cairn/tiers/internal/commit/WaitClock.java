package dev.cairn.tiers.internal.commit;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import java.util.concurrent.locks.LockSupport;

/**
 * How a multi-rank commit tells time, waits between its polls of the store, and runs store calls side by side: the
 * system's monotonic clock, a park and a pool of threads by default ({@link #SYSTEM}). A simulation of thousands of
 * ranks in one process ({@code cairn bench --simulate}) supplies its own, so that the deadline, every pause and the
 * calls in flight together run on simulated time and nothing sleeps.
 */
public interface WaitClock {
    /** The system's clock: {@link System#nanoTime()} and {@link LockSupport#parkNanos(long)}. */
    WaitClock SYSTEM = new WaitClock() {
        @Override
        public long nanoTime() {
            return System.nanoTime();
        }

        @Override
        public void pause(long nanos) {
            LockSupport.parkNanos(nanos);
            if (Thread.interrupted()) {
                throw new CheckpointException(Reason.CLOSED, "the checkpointer closed while a multi-rank commit waited");
            }
        }
    };

    /** A store call made side by side with others ({@link #sideBySide}). */
    @FunctionalInterface
    interface Call<T> {
        T run() throws java.io.IOException;
    }

    /**
     * Runs {@code calls}, at most {@code inFlight} at once, and returns their results in order once all have ended; the
     * first failure is thrown after that. By default on a shared pool of daemon threads.
     */
    default <T> java.util.List<T> sideBySide(java.util.List<Call<T>> calls, int inFlight) throws java.io.IOException {
        return SideBySide.run(calls, inFlight);
    }

    /** Now, in nanoseconds from an arbitrary origin, as {@link System#nanoTime()}. */
    long nanoTime();

    /**
     * Waits about {@code nanos} between two polls; a closing checkpointer interrupts its commit threads, which then
     * stop waiting with a CLOSED {@link CheckpointException}.
     */
    void pause(long nanos);
}
