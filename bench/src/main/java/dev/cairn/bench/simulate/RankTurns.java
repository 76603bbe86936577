package dev.cairn.bench.simulate;

import dev.cairn.testkit.SimulatedClock;
import dev.cairn.tiers.internal.commit.WaitClock;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.locks.LockSupport;

/**
 * Plays many ranks, each on a thread of its own, one at a time in order of simulated time: a discrete-event loop in
 * which the engine's own code runs unchanged. A rank runs until it waits ({@link #pause}, the multi-rank commit's
 * pause between polls) or ends; then the rank whose simulated time is earliest runs next. A request to the
 * {@link dev.cairn.testkit.SimulatedObjectStore} moves its caller's time without yielding, so a rank sees the store
 * as the ranks before it in simulated time left it, up to what it does between two waits; the store's
 * {@code visibleFromCompletion} hides what others wrote in its future. Nothing sleeps: a pause hands the turn on.
 *
 * <p>As the engine's {@link WaitClock}, time is the calling thread's simulated time, and calls made side by side run
 * one after another on the calling thread, each on the earliest free of {@code inFlight} lanes that start at the
 * caller's time (as the ranks' chunk PUTs do), the caller ending with the last of them.
 */
final class RankTurns implements WaitClock {
    private static final long STACK_BYTES = 512L << 10;

    private final SimulatedClock clock;
    private final Object lock = new Object();
    private final PriorityQueue<Turn> waiting = new PriorityQueue<>(
            Comparator.comparingLong(Turn::time).thenComparingLong(Turn::order));
    private volatile Thread holder;
    private long order;

    private record Turn(long time, long order, Thread thread) {
    }

    RankTurns(SimulatedClock clock) {
        this.clock = clock;
    }

    /** A rank's work; what it throws is the rank's failure. */
    @FunctionalInterface
    interface Rank {
        void run(int rank) throws Exception;
    }

    /**
     * Runs {@code rank} for each of {@code ranks} ranks, all starting at simulated time {@code start}, and returns
     * when every one has ended; {@code failures[r]} is what rank r threw, or null.
     */
    void runAll(int ranks, long start, Rank rank, Throwable[] failures) throws InterruptedException {
        CountDownLatch ended = new CountDownLatch(ranks);
        for (int r = 0; r < ranks; r++) {
            int id = r;
            Thread t = new Thread(null, () -> {
                awaitTurn();
                try {
                    clock.setNow(start);
                    rank.run(id);
                } catch (Throwable e) {
                    failures[id] = e;
                } finally {
                    // The turn first, then the count: once the last rank counts down, runAll returns and its caller
                    // may queue the next ranks and pass the turn itself; a pass from this thread after that would hand
                    // out a second turn (two ranks running, one of them then parked forever: the hang seen in CI).
                    try {
                        passOn();
                    } finally {
                        ended.countDown();
                    }
                }
            }, "simulated-rank-" + r, STACK_BYTES);
            t.setDaemon(true);
            synchronized (lock) {
                waiting.add(new Turn(start, order++, t));
            }
            t.start();
        }
        passOn();
        ended.await();
    }

    @Override
    public long nanoTime() {
        return clock.now();
    }

    @Override
    public <T> List<T> sideBySide(List<Call<T>> calls, int inFlight) throws IOException {
        long[] lanes = new long[Math.max(1, Math.min(inFlight, calls.size()))];
        Arrays.fill(lanes, clock.now());
        List<T> results = new ArrayList<>(calls.size());
        Exception failure = null;
        for (Call<T> call : calls) {
            int lane = 0;
            for (int i = 1; i < lanes.length; i++) {
                if (lanes[i] < lanes[lane]) {
                    lane = i;
                }
            }
            clock.setNow(lanes[lane]);
            try {
                results.add(call.run());
            } catch (IOException | RuntimeException e) {
                if (failure == null) {
                    failure = e;
                }
                results.add(null);
            } finally {
                lanes[lane] = clock.now();
            }
        }
        clock.setNow(Arrays.stream(lanes).max().orElseThrow());
        if (failure instanceof IOException io) {
            throw io;
        }
        if (failure instanceof RuntimeException r) {
            throw r;
        }
        return results;
    }

    /** Waits {@code nanos} of simulated time: every rank due earlier runs first. */
    @Override
    public void pause(long nanos) {
        long wake = clock.now() + nanos;
        Thread me = Thread.currentThread();
        synchronized (lock) {
            requireTurn(me);
            waiting.add(new Turn(wake, order++, me));
        }
        passOn();
        awaitTurn();
        clock.advanceTo(wake);
    }

    /**
     * Gives the turn to the earliest waiting rank (possibly the caller). Only the holder passes it on, or anyone when
     * no rank holds it (the start of {@link #runAll}, a {@link #pause} on a thread of no rank): a pass from any other
     * thread would let two ranks run at once and leave one parked forever, so it fails instead.
     */
    private void passOn() {
        Thread next;
        synchronized (lock) {
            requireTurn(Thread.currentThread());
            Turn turn = waiting.poll();
            next = turn == null ? null : turn.thread();
            holder = next;
        }
        if (next != null) {
            LockSupport.unpark(next);
        }
    }

    /** Fails unless {@code me} holds the turn or nobody does; call with the lock held. */
    private void requireTurn(Thread me) {
        Thread held = holder;
        if (held != null && held != me) {
            throw new IllegalStateException(me.getName() + " passed on a turn that " + held.getName() + " holds: only the"
                    + " rank that runs may wait or end");
        }
    }

    private void awaitTurn() {
        Thread me = Thread.currentThread();
        while (holder != me) {
            LockSupport.park(this);
        }
    }
}
