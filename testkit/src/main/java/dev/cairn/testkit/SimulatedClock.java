package dev.cairn.testkit;

import java.time.Instant;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Simulated time for a {@link SimulatedObjectStore}: nanoseconds since an epoch, kept per thread, never slept.
 *
 * <p>Each thread has its own virtual time, because each thread that calls a blocking store does one request at a
 * time: a request starts at the calling thread's {@link #now()} and moves that thread to the request's completion.
 * Threads that run side by side in simulated time may run one after another in real time, so a driver can play
 * many callers (ranks) on a few real threads: before each caller's turn it puts the thread at that caller's time
 * with {@link #setNow}, and afterwards reads the caller's new time with {@link #now()}.
 *
 * <p>A thread's time never falls below the {@linkplain #floor() floor}, which a driver raises when every caller
 * has reached a moment (the start of a training step), so that threads it does not control (an engine's I/O pool)
 * do not issue requests in the past. {@link #latest()} is the furthest time any thread has reached, the end of
 * everything done so far.
 *
 * <p>What a thread does not learn: a thread that waits for another thread (a future completed by an I/O pool) keeps
 * its own time; the driver joins the two with {@link #advanceTo}.
 */
public final class SimulatedClock {
    private final Instant epoch;
    private final AtomicLong floor = new AtomicLong();
    private final AtomicLong latest = new AtomicLong();
    private final ThreadLocal<long[]> threadTime = ThreadLocal.withInitial(() -> new long[1]);

    /** A clock at 0 whose epoch is now, so that simulated modification times look recent. */
    public SimulatedClock() {
        this(Instant.now());
    }

    /** A clock at 0 whose 0 is {@code epoch}. */
    public SimulatedClock(Instant epoch) {
        this.epoch = Objects.requireNonNull(epoch, "epoch");
    }

    /** The calling thread's time: its own, or the floor if that is later. */
    public long now() {
        return Math.max(threadTime.get()[0], floor.get());
    }

    /** Puts the calling thread at {@code nanos}, earlier or later than it was (never below the floor). */
    public void setNow(long nanos) {
        requireNonNegative(nanos);
        threadTime.get()[0] = nanos;
        raiseLatest(nanos);
    }

    /** The calling thread spends {@code nanos} (computing, backing off). */
    public void advance(long nanos) {
        requireNonNegative(nanos);
        setNow(now() + nanos);
    }

    /** The calling thread waits until {@code nanos} if that is later than its time. */
    public void advanceTo(long nanos) {
        setNow(Math.max(now(), nanos));
    }

    /** The time below which no thread is. */
    public long floor() {
        return floor.get();
    }

    /** Moves every thread to at least {@code nanos}; a floor never goes down. */
    public void raiseFloor(long nanos) {
        requireNonNegative(nanos);
        floor.accumulateAndGet(nanos, Math::max);
        raiseLatest(nanos);
    }

    /** The furthest time any thread has reached. */
    public long latest() {
        return latest.get();
    }

    /** The instant of simulated time {@code nanos}. */
    public Instant toInstant(long nanos) {
        return epoch.plusNanos(nanos);
    }

    /** The instant of simulated time 0. */
    public Instant epoch() {
        return epoch;
    }

    private void raiseLatest(long nanos) {
        if (nanos > latest.get()) {
            latest.accumulateAndGet(nanos, Math::max);
        }
    }

    private static void requireNonNegative(long nanos) {
        if (nanos < 0) {
            throw new IllegalArgumentException("simulated time runs from 0: " + nanos);
        }
    }

    @Override
    public String toString() {
        return "SimulatedClock[now " + now() + " ns on " + Thread.currentThread().getName() + ", floor " + floor()
                + ", latest " + latest() + "]";
    }
}
