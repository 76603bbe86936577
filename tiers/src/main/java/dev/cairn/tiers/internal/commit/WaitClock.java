package dev.cairn.tiers.internal.commit;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import java.util.concurrent.locks.LockSupport;

/**
 * How a multi-rank commit tells time and waits between its polls of the store: the system's monotonic clock and a
 * park by default ({@link #SYSTEM}). A simulation of thousands of ranks in one process ({@code cairn bench
 * --simulate}) supplies its own, so that the deadline and every pause run on simulated time and nothing sleeps.
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

    /** Now, in nanoseconds from an arbitrary origin, as {@link System#nanoTime()}. */
    long nanoTime();

    /**
     * Waits about {@code nanos} between two polls; a closing checkpointer interrupts its commit threads, which then
     * stop waiting with a CLOSED {@link CheckpointException}.
     */
    void pause(long nanos);
}
