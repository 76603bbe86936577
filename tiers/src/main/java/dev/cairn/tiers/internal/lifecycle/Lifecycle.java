package dev.cairn.tiers.internal.lifecycle;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.tiers.internal.OwnThreads;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.gc.Retention;
import dev.cairn.tiers.internal.observe.Telemetry;
import dev.cairn.tiers.internal.pipeline.InFlightSaves;
import dev.cairn.tiers.internal.pipeline.SavePipeline;
import dev.cairn.tiers.internal.promote.Promoter;
import dev.cairn.tiers.internal.restore.Restorer;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Whether a checkpointer is open, its shutdown hook, and the order in which {@link #close} stops its parts: the hook
 * first (or waited for, when the JVM is already running it), then retention's background work, then the saves in
 * flight (waited for within the deadline, else failed), then the pipeline, retention, a collection the API's
 * {@code gc} began (waited for: each tier's commit lock), the tiers' I/O threads, the other pools,
 * the promoter's and restorer's scratch, telemetry, and last the allocators, whose leak check then fails the close
 * naming any buffer a thread that did not stop still holds.
 *
 * <p>A save is admitted only while open, under this object's monitor ({@code synchronized (lifecycle)}), which
 * {@link #close} takes to mark it closed: so every save close waits for has been admitted before it looks.
 */
public final class Lifecycle {
    /** What {@link #close} stops, in the order it stops them. {@code rankCommits} is null in a single-rank run. */
    public record Parts(Retention retention, InFlightSaves inFlight, SavePipeline pipeline, Runnable endWaits, List<Tier> tiers,
                        ExecutorService restorePool, ExecutorService rankCommits, ExecutorService deadlines,
                        Promoter promoter, Restorer restorer, Telemetry telemetry, List<BufferAllocator> allocators,
                        BooleanSupplier onOwnThread, OwnThreads restoreThreads, OwnThreads rankCommitThreads) {
    }

    private final String run;
    private final Duration deadline;
    private final Parts parts;
    private final Optional<Duration> persistOnShutdown;
    private final Consumer<Duration> persist;
    /** The shutdown hook of persistOnShutdown; null when off, or until {@link #registerShutdownHook}. */
    private Thread hook;
    private volatile boolean closed;

    /**
     * @param persistOnShutdown the grace of {@code CairnConfig.persistOnShutdown}, when on: {@code persist} then runs
     *                          with it as a JVM shutdown hook, once {@link #registerShutdownHook} registers it
     */
    public Lifecycle(String run, Duration deadline, Parts parts, Optional<Duration> persistOnShutdown,
                     Consumer<Duration> persist) {
        this.run = run;
        this.deadline = deadline;
        this.parts = parts;
        this.persistOnShutdown = persistOnShutdown;
        this.persist = persist;
    }

    /**
     * Registers the shutdown hook of persistOnShutdown, when on; called last in the checkpointer's open. Registered
     * here instead of in the constructor: an open that failed after it (the checkpointer's constructor throwing) left
     * the hook registered, holding the half-built checkpointer, whose tiers it then ran promotions on at shutdown.
     * Nothing is registered once close has begun.
     */
    public synchronized void registerShutdownHook() {
        if (closed || hook != null || persistOnShutdown.isEmpty()) {
            return;
        }
        Duration grace = persistOnShutdown.get();
        Thread t = new Thread(() -> persist.accept(grace), "cairn-persist-on-shutdown");
        Runtime.getRuntime().addShutdownHook(t);
        hook = t;
    }

    /** Fails with {@link Reason#CLOSED} once {@link #close} has begun. */
    public void checkOpen() {
        if (closed) {
            throw new CheckpointException(Reason.CLOSED, "checkpointer of run '" + run + "' is closed");
        }
    }

    /**
     * Stops every part, in the order above; only the first call does anything.
     *
     * <p>Called on one of the checkpointer's own threads (a save's callback runs on the thread that completes its
     * future: a tier's I/O thread, inside the commit, with the tier's commit lock held; a rank-commit, capture or
     * deadline thread), it cannot wait for the saves in flight, which that thread may hold up, nor for its own pool:
     * it fails the saves not finished at once (CLOSED) and does not wait for the thread it runs on. What that thread was
     * doing when it called close starts nothing new afterwards: the tiers are closed ({@code TierCommitter}).
     */
    public void close() {
        Thread hook;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            hook = this.hook; // none is registered from now on
        }
        boolean ownThread = parts.onOwnThread().getAsBoolean();
        if (hook != null && Thread.currentThread() != hook) {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // The hook is running (or about to): let it finish persisting before the tiers stop under it.
                try {
                    hook.join(persistOnShutdown.orElseThrow().toMillis());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        parts.retention().closing();
        parts.inFlight().awaitOrExpire(System.nanoTime() + (ownThread ? 0 : deadline.toNanos()));
        // Interrupted while it waited for the saves: it stopped waiting for them, but the rest still waits for the
        // threads to stop before memory is freed (an interrupt would cut those waits short); kept for the caller.
        boolean interrupted = Thread.interrupted();
        try {
            stopParts(ownThread);
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** What {@link #close} stops once the saves in flight are done or failed. */
    private void stopParts(boolean ownThread) {
        parts.pipeline().close();
        parts.retention().close();
        // A wait still running (a paced look at open, on a tier's I/O thread; a commit's confirmation under a tier's
        // commit lock) ends now instead of at its turn, before close waits for that lock below.
        parts.endWaits().run();
        // A collection the API's gc began before close (each tier's under its commit lock) ends before the tiers
        // stop: none deletes after close returns. One that gets the lock after this finds retention closed.
        for (Tier t : parts.tiers()) {
            t.commitLock().lock();
            t.commitLock().unlock();
        }
        for (Tier t : parts.tiers()) {
            t.close();
        }
        for (Tier t : parts.tiers()) {
            awaitPool(t.io(), t.onIoThread());
        }
        // The chunk tasks still queued are cancelled, not only dropped: a restore waiting for them ends now, with
        // CLOSED, instead of at its deadline. The running ones are interrupted (their reads end).
        for (Runnable queued : parts.restorePool().shutdownNow()) {
            if (queued instanceof java.util.concurrent.Future<?> task) {
                task.cancel(false);
            }
        }
        if (parts.rankCommits() != null) {
            parts.rankCommits().shutdownNow();
        }
        parts.deadlines().shutdownNow();
        awaitPool(parts.restorePool(), parts.restoreThreads().current());
        if (parts.rankCommits() != null) {
            awaitPool(parts.rankCommits(), parts.rankCommitThreads().current());
        }
        parts.promoter().close();
        parts.restorer().close();
        parts.telemetry().close();
        // Every buffer is back by now, unless a thread did not stop within the waits above: then what it holds is
        // still in use, cannot be freed, and Arrow's leak check fails the close, naming it.
        closeAll(parts.allocators());
    }

    /**
     * Waits up to 10 s until {@code pool} (shut down) has stopped; called on one of its own threads ({@code onOwnThread}),
     * which cannot wait for itself, until this is the only one of its threads still running a task: the others may
     * still be writing a chunk from a staging slab, which the allocators' close below must not free under them.
     */
    private static void awaitPool(ExecutorService pool, boolean onOwnThread) {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        if (!onOwnThread) {
            try {
                pool.awaitTermination(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return;
        }
        if (pool instanceof ThreadPoolExecutor threads) {
            while ((threads.getActiveCount() > 1 || !threads.getQueue().isEmpty()) && System.nanoTime() - until < 0) {
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
                if (Thread.currentThread().isInterrupted()) {
                    return;
                }
            }
        }
    }

    /** Closes each allocator; the first failure (a leak) is thrown once all were tried, with the others suppressed. */
    private static void closeAll(List<BufferAllocator> allocators) {
        IllegalStateException leak = null;
        for (BufferAllocator a : allocators) {
            try {
                a.close();
            } catch (IllegalStateException e) {
                if (leak == null) {
                    leak = e;
                } else {
                    leak.addSuppressed(e);
                }
            }
        }
        if (leak != null) {
            throw leak;
        }
    }
}
