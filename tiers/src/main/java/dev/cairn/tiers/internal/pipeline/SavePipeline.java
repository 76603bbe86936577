package dev.cairn.tiers.internal.pipeline;

import com.lmax.disruptor.BlockingWaitStrategy;
import com.lmax.disruptor.EventHandler;
import com.lmax.disruptor.ExceptionHandler;
import com.lmax.disruptor.RingBuffer;
import com.lmax.disruptor.dsl.Disruptor;
import com.lmax.disruptor.dsl.ProducerType;
import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.MappedFaults;
import dev.cairn.SaveMode;
import dev.cairn.TrainingState;
import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.codec.ChunkCodec;
import dev.cairn.tiers.internal.codec.Scratch;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Capture, the feeder, the ring and its handlers. {@link #submit} cuts a state into chunks; in COPY mode the caller's
 * thread copies each chunk into a staging slab (the stall, bounded by memory bandwidth), in ZERO_COPY mode the capture
 * thread does the same while the caller goes on. The caller never waits on the ring, only on full staging.
 *
 * <p>One feeder thread publishes to the ring, and does there everything a chunk needs from outside memory before
 * it enters: it loads the first tier's chunk catalog (the first load lists the store), takes the output slab (waiting
 * while the writes lag), and reads the previous version's base for the differential form ({@link DeltaBases}), only
 * for a chunk whose hash, taken there first, shows that it changed. The
 * ring's handlers, the encoders, then only compute: they hash and encode ({@link ChunkEncoder}) and hand each chunk
 * the tier lacks to its I/O threads ({@link ChunkWriter}).
 *
 * <p>Memory: staging (raw and encoded slabs) comes from the staging allocator, whose limit is the configured staging
 * bytes; the encoders' scratch and the bases read ahead from the scratch allocator. {@link #close} returns all of it,
 * or leaves out what a thread that did not stop still holds, for the owner's allocator to report.
 */
public final class SavePipeline implements AutoCloseable {
    /** What the feeder takes: chunks [start, end) of a job, with their raw slabs where captured. */
    private record Run(SaveJob job, int start, int end, Slab[] raw) {
    }

    private static final Run STOP = new Run(null, 0, 0, null);

    /**
     * Where output slabs start when they hold {@link #ALIGNED_FROM} bytes or more: a multiple of the usual file-system
     * block (4 KiB), so that a disk tier writes a chunk to the device straight from its slab (FileSystemObjectStore's
     * direct writes, which take objects of 256 KiB and more) instead of copying it first. A file system with larger
     * blocks gets its direct writes through a copy.
     */
    static final int ENCODED_ALIGNMENT = 4096;
    static final int ALIGNED_FROM = 256 << 10;
    /** Output slabs per encoder: one being filled, one being written, one queued. */
    static final int ENCODED_SLABS_PER_ENCODER = 3;
    /** Bases read ahead per encoder: one being used, one ready. */
    static final int BASES_PER_ENCODER = 2;

    private final SlabPool rawPool;
    private final SlabPool encodedPool;
    private final DeltaBases bases;
    private final Disruptor<ChunkEvent> disruptor;
    private final RingBuffer<ChunkEvent> ring;
    private final ChunkEncoder[] encoders;
    private final BlockingQueue<Run> toFeed = new LinkedBlockingQueue<>();
    private final Thread feeder;
    private final dev.cairn.tiers.internal.OwnThreads captureThread = new dev.cairn.tiers.internal.OwnThreads("cairn-capture");
    /** Stages ZERO_COPY jobs ({@link #submit}), one at a time. */
    private final ExecutorService capture;
    /** The newest ZERO_COPY job's staging, until it ends; written by the saving thread (saves are serialised). */
    private volatile CompletableFuture<Void> capturing;
    private final long waitNanos;
    /** How often a save waiting for staging looks whether it has failed meanwhile. */
    private static final long ACQUIRE_SLICE_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
    /** Most events the feeder loads before it publishes them (far fewer than the ring holds, so its next() never waits on them). */
    static final int HELD_EVENTS = 64;
    /** Events loaded and not yet published, [heldFrom, heldTo], or heldFrom -1: the feeder thread's only. */
    private long heldFrom = -1;
    private long heldTo = -1;

    /**
     * @param allocator         staging: raw and encoded slabs
     * @param scratch           the encoders' scratch and the bases read ahead, outside the staging limit
     * @param firstTierWritten  called once per job when every chunk is written to its first tier (or failed)
     */
    public SavePipeline(CairnConfig config, BufferAllocator allocator, BufferAllocator scratch,
                        Consumer<SaveJob> firstTierWritten) {
        int n = config.encoderThreads();
        int encodedSlab = roundUp(ChunkCodec.maxEncodedBytes(config.chunkBytes()));
        int alignment = encodedSlab >= ALIGNED_FROM ? ENCODED_ALIGNMENT : 1;
        long encodedAllocation = roundUp(SlabPool.allocationBytes(encodedSlab, alignment));
        long rawBudget = config.stagingBytes() - (long) ENCODED_SLABS_PER_ENCODER * n * encodedAllocation;
        int rawSlabs = (int) Math.max(1, Math.min(Integer.MAX_VALUE, rawBudget / roundUp(config.chunkBytes())));
        this.rawPool = new SlabPool(allocator, config.chunkBytes(), rawSlabs);
        // Taken in sequence order by the one feeder, so no encoder can starve another of output slabs.
        this.encodedPool = new SlabPool(allocator, encodedSlab, ENCODED_SLABS_PER_ENCODER * n, alignment);
        this.waitNanos = config.deadline().toNanos();
        PreviousVersions previous = new PreviousVersions();
        // Several ranks could store one content hash in two forms (whole and differential, against different
        // histories), and one form would replace the other under the other rank's manifest: differential chunks
        // are for single-rank runs.
        int fullEvery = config.worldSize() > 1 ? 1 : config.differentialFullEvery();
        this.bases = new DeltaBases(fullEvery, freshFor(config), previous,
                new SlabPool(scratch, config.chunkBytes(), BASES_PER_ENCODER * n), waitNanos, new Scratch(scratch, "feeder"));
        AtomicInteger threads = new AtomicInteger();
        // Encoders block while the ring is empty. Disruptor's sleeping strategy (100 spins, then 200 us sleeps) woke each
        // of them 5,000 times a second: an idle checkpointer burnt 480 ms of CPU in 4 s, taken from training on a small
        // machine, against 10-20 ms blocking. Quiet A/B on 2 cores: restores and every-step saves no slower.
        this.disruptor = new Disruptor<>(ChunkEvent::new, 1024, r -> {
            Thread t = new Thread(r, "cairn-ring-" + threads.incrementAndGet());
            t.setDaemon(true);
            return t;
        }, ProducerType.SINGLE, new BlockingWaitStrategy());
        this.encoders = new ChunkEncoder[n];
        ChunkWriter writer = new ChunkWriter(firstTierWritten, freshFor(config));
        for (int k = 0; k < n; k++) {
            encoders[k] = new ChunkEncoder(k, n, freshFor(config), previous, writer, new Scratch(scratch, "encoder-" + k));
        }
        disruptor.handleEventsWith((EventHandler<ChunkEvent>[]) encoders);
        disruptor.setDefaultExceptionHandler(new KeepRunning());
        this.ring = disruptor.start();
        this.capture = Executors.newSingleThreadExecutor(captureThread);
        this.feeder = new Thread(this::feedLoop, "cairn-feeder");
        feeder.setDaemon(true);
        feeder.start();
        if (config.prefaultStaging() && !config.prepareFirstSave()) {
            // Off the caller's thread: open returns at once, and a save meanwhile takes the slabs already made.
            // (prepareFirstSave touches staging on the caller's thread instead: prefaultStaging().)
            Thread prefault = new Thread(this::prefaultStaging, "cairn-staging-prefault");
            prefault.setDaemon(true);
            prefault.start();
        }
    }

    /** Allocates all of staging and writes each page once, on this thread (CairnConfig.Builder#prepareFirstSave). */
    public void prefaultStaging() {
        encodedPool.prefault();
        rawPool.prefault();
    }

    /**
     * How recently a stored chunk must have been written for a save to count on it without writing it again, unless
     * the tier's newest committed step names it: half the shorter of the run's positive gcGrace and the command
     * line's default grace, since a collector in another process ({@code cairn gc}) cannot see this process's pins
     * and deletes any unreferenced chunk older than its grace. Rewriting restarts the chunk's age, so such a collector
     * leaves it alone for the rest of the save. Either reason to count on a chunk can lapse before the commit (a save
     * that takes longer than the other half; a newer step committed meanwhile that does not name it): the commit asks
     * again with the same {@code freshFor} right before it names the chunk and writes again what lapsed
     * ({@code ChunkConfirmation#refreshLapsed}), so that no chunk it counts on is older than this at its MANIFEST
     * (plus, with several ranks, rank 0's wait, which gcGrace is at least twice of) unless the newest step names it.
     */
    public static java.time.Duration freshFor(CairnConfig config) {
        java.time.Duration grace = config.gcGrace();
        if (grace.isZero() || grace.compareTo(CairnConfig.DEFAULT_GC_GRACE) > 0) {
            grace = CairnConfig.DEFAULT_GC_GRACE;
        }
        return grace.dividedBy(2);
    }

    /**
     * Whether a COPY save would wait for staging now: every raw slab is held, or every encoded one (a raw chunk then
     * waits for an encoder that waits for a write). With no save in flight that is a save that expired while its first
     * tier's writes still hang, holding the chunks it had staged.
     */
    public boolean stagingExhausted() {
        return rawPool.exhausted() || encodedPool.exhausted();
    }

    /**
     * Whether any staging slab (raw or encoded; not the delta bases', which stay held between saves by design) is
     * held now. A job gives back every slab it holds before its first tier's commit runs (the writes release theirs
     * before the last of them starts the commit), so with no save in flight short of that commit, a slab still held
     * is one of a save that expired (or was closed) while its first tier's writes still hang. A COPY save then waits
     * for staging whenever it needs more than is left, up to its own deadline.
     */
    public boolean stagingHeld() {
        return rawPool.anyHandedOut() || encodedPool.anyHandedOut();
    }

    /** Slab sizes as the staging allocator accounts them (1 KiB segments). */
    private static int roundUp(int bytes) {
        return (bytes + 1023) & ~1023;
    }

    /**
     * Starts {@code job}. COPY: returns after every chunk is in staging, and completes {@code captured}. ZERO_COPY:
     * returns at once; the capture thread copies the chunks into staging the same way and completes {@code captured}
     * after the last. A job waits here first until an earlier ZERO_COPY job's capture has ended, so that the feeder
     * takes the jobs in the order they were saved.
     */
    public void submit(SaveJob job) {
        awaitCapture();
        if (job.plan().mode() != SaveMode.ZERO_COPY) {
            try {
                stage(job);
            } catch (Error failed) {
                job.fail(failed); // see the capture's catch below
                throw failed;
            } catch (RuntimeException failed) {
                // The save's futures say why, as for a ZERO_COPY capture: a first tier whose writes hang keeps staging
                // full until this save's deadline, and training must not fail for it (thrown, it ended the training
                // loop, and was counted as a save refused before anything was written).
                job.fail(failed);
            } finally {
                job.completeCapture();
            }
            return;
        }
        CompletableFuture<Void> staged = new CompletableFuture<>();
        capturing = staged;
        try {
            capture.execute(() -> {
                try {
                    stage(job);
                } catch (Throwable failed) {
                    // stage fails the job for what it throws, and has handed its chunks on; anything else that escapes
                    // fails it too. (Before MappedFaults, a truncated memory map's fault surfaced after stage's last
                    // copy had returned; swallowed, the job committed the bytes the copy had left.)
                    job.fail(failed);
                } finally {
                    // The next save may go first (its Run is queued after this job's), then the caller's callbacks,
                    // which may themselves save: completing captured first would make such a save wait for itself.
                    staged.complete(null);
                    job.completeCapture();
                }
            });
        } catch (RejectedExecutionException closed) {
            // Closing (the lifecycle admits no save by then): nothing was read; the job fails at once.
            staged.complete(null);
            job.expire(new CheckpointException(CheckpointException.Reason.CLOSED, "save of step " + job.plan().step()
                    + " stopped: the checkpointer is closing"));
            job.completeCapture();
        } catch (Error notStarted) {
            // The capture thread, made at the first ZERO_COPY save, could not be started (no native thread left):
            // the job fails; left waiting, it held every later save and the close for ever.
            staged.complete(null);
            job.expire(new CheckpointException(CheckpointException.Reason.STORAGE, "save of step " + job.plan().step()
                    + " could not start its capture: " + notStarted, notStarted));
            job.completeCapture();
        }
    }

    /** Waits until the capture thread has staged the newest ZERO_COPY job (at once when there is none). */
    private void awaitCapture() {
        CompletableFuture<Void> pending = capturing;
        if (pending != null) {
            pending.join();
        }
    }

    /**
     * Copies every chunk of {@code job} into staging slabs and hands them to the feeder; the caller completes the
     * capture. Chunks are handed to the encoders only once the whole state is captured, so that on few cores the
     * encoders do not take the CPU from the copy that training waits for; if staging runs out first, what is captured
     * goes out to make room (the encoders free it). A failure (anything thrown, errors included) fails the job, hands
     * on its chunks (those not captured pass the ring empty, so it ends and its futures fail), and is rethrown.
     */
    private void stage(SaveJob job) {
        int n = job.chunkCount();
        Slab[] raw = new Slab[n];
        int sent = 0;
        int i = 0;
        try {
            for (; i < n && job.failure() == null; i++) { // a job failed meanwhile (its deadline) stops reading
                Slab slab = rawPool.tryAcquire();
                if (slab == null) {
                    if (i > sent) {
                        toFeed.add(new Run(job, sent, i, raw));
                        sent = i;
                    }
                    slab = acquireWhileAlive(job);
                }
                try {
                    job.plan().copyChunk(i, slab.buffer());
                    MappedFaults.deliverPending(); // a truncated memory map's fault, here and not later (MappedFaults)
                } catch (InternalError e) {
                    slab.release();
                    throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "save of step "
                            + job.plan().step() + " failed: reading entry '" + job.plan().entryName(i)
                            + "' faulted (" + e.getMessage() + "); is it a memory map of a file that was truncated?", e);
                } catch (Throwable e) {
                    slab.release();
                    throw e;
                }
                raw[i] = slab;
            }
        } catch (Throwable e) {
            job.fail(e);
            toFeed.add(new Run(job, sent, n, raw));
            throw e;
        }
        toFeed.add(new Run(job, sent, n, raw));
    }

    /**
     * A raw slab, waited for up to the deadline in slices, so that a job that fails meanwhile (its deadline, or the
     * close) stops waiting within a slice rather than a whole deadline later.
     */
    private Slab acquireWhileAlive(SaveJob job) {
        long until = System.nanoTime() + waitNanos;
        while (true) {
            long left = until - System.nanoTime();
            try {
                return rawPool.acquire(Math.min(left, ACQUIRE_SLICE_NANOS));
            } catch (CheckpointException e) {
                if (e.reason() != CheckpointException.Reason.TIMEOUT || left <= ACQUIRE_SLICE_NANOS) {
                    throw e;
                }
                if (job.failure() != null) {
                    throw new CheckpointException(CheckpointException.Reason.CLOSED, "save of step "
                            + job.plan().step() + " failed while it waited for staging", job.failure());
                }
            }
        }
    }

    private void feedLoop() {
        ChunkEvent next = new ChunkEvent();
        try {
            while (true) {
                Run run;
                try {
                    run = toFeed.take();
                } catch (InterruptedException e) {
                    return;
                }
                if (run == STOP) {
                    return;
                }
                SaveJob job = run.job();
                ChunkCatalog catalog = null;
                if (job.failure() == null) {
                    try {
                        catalog = job.firstTier().catalog(); // the first load lists the tier's chunks
                    } catch (Throwable e) { // an Error too: escaping, it ended this thread, and every later save with it
                        job.fail(e);
                    }
                }
                try {
                    for (int i = run.start(); i < run.end(); i++) {
                        feed(job, i, run.raw()[i], catalog, next);
                    }
                } finally {
                    publishHeld();
                }
            }
        } finally {
            bases.close();
        }
    }

    /** Publishes the events loaded and held back ({@link #feed}); on the feeder thread. */
    private void publishHeld() {
        if (heldFrom >= 0) {
            ring.publish(heldFrom, heldTo);
            heldFrom = -1;
        }
    }

    /** Publishes chunk {@code i} of {@code job} with what its encoder needs: a failed job's chunks pass empty. */
    private void feed(SaveJob job, int i, Slab raw, ChunkCatalog catalog, ChunkEvent next) {
        // A live job's chunk is always in a staging slab (both save modes stage); a failed job's may have none.
        ByteBuffer src = raw == null ? null : raw.buffer();
        Slab encoded = null;
        next.chunk = i;
        next.hash = null;
        next.prev = null;
        next.base = null;
        next.chain = null;
        // Into a tier that stores chunks as they are, no base is read, so loading a chunk waits for nothing but an
        // output slab: such chunks are published together, up to HELD_EVENTS at a time, instead of one by one, which
        // woke the encoders (and they the feeder) once a chunk, a few dozen times a step for a small model's tensors.
        // Anything that may wait publishes what is held first, so no encoder waits on an event held back.
        boolean holdable = job.firstTier().uncompressed();
        if (job.failure() == null) {
            try {
                encoded = holdable ? encodedPool.tryAcquire() : null;
                if (encoded == null) {
                    publishHeld();
                    encoded = encodedPool.acquire(waitNanos);
                }
                bases.resolve(next, job.plan(), job.firstTier(), catalog, src);
            } catch (Throwable e) { // an Error too (a store's, or no memory for a slab): the job fails, not the feeder
                job.fail(e);
            }
        }
        if (!holdable) {
            publishHeld();
        }
        long seq = ring.next();
        try {
            ring.get(seq).load(job, i, src, raw, encoded, catalog, next.hash, next.prev, next.base, next.chain);
        } finally {
            if (heldFrom < 0) {
                heldFrom = seq;
            }
            heldTo = seq;
            if (!holdable || seq - heldFrom + 1 >= HELD_EVENTS) {
                publishHeld();
            }
        }
    }

    /** Slabs of staging and bases handed out right now; zero when idle (tests use this to find leaks). */
    public int slabsInUse() {
        return rawPool.inUse() + encodedPool.inUse() + bases.slabsInUse();
    }

    /** Whether the current thread is the capture thread or the feeder (a save's callback may run on them). */
    public boolean ownsCurrentThread() {
        return captureThread.current() || Thread.currentThread() == feeder;
    }

    @Override
    public void close() {
        // A capture still running ends before the feeder's STOP, which must come after its chunks: interrupted if it
        // still waits for staging after 10 s (its acquire then throws, and its chunks are handed on failed).
        // Closed on the capture thread (a captured() callback): it cannot wait for itself.
        capture.shutdown();
        try {
            if (!captureThread.current() && !capture.awaitTermination(10, TimeUnit.SECONDS)) {
                capture.shutdownNow();
                capture.awaitTermination(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            capture.shutdownNow();
            Thread.currentThread().interrupt();
        }
        toFeed.add(STOP);
        try {
            if (Thread.currentThread() != feeder) {
                feeder.join(TimeUnit.SECONDS.toMillis(10));
            }
            disruptor.shutdown(10, TimeUnit.SECONDS);
        } catch (InterruptedException | com.lmax.disruptor.TimeoutException e) {
            disruptor.halt();
        }
        for (ChunkEncoder e : encoders) {
            e.close(TimeUnit.SECONDS.toNanos(10));
        }
        // Anything queued behind STOP (a capture that outlived its waits) gives its slabs back.
        for (Run left = toFeed.poll(); left != null; left = toFeed.poll()) {
            for (int k = left.start(); left.raw() != null && k < left.end(); k++) { // its own chunks: runs share the array
                if (left.raw()[k] != null) {
                    left.raw()[k].release();
                }
            }
        }
        rawPool.close();
        encodedPool.close();
        bases.closeSlabs();
    }

    /** Handlers catch their own failures; anything that still escapes must not stop the ring's threads. */
    private static final class KeepRunning implements ExceptionHandler<ChunkEvent> {
        @Override
        public void handleEventException(Throwable ex, long sequence, ChunkEvent event) {
            if (event != null && event.job != null) {
                event.job.fail(ex);
            }
        }

        @Override
        public void handleOnStartException(Throwable ex) {
        }

        @Override
        public void handleOnShutdownException(Throwable ex) {
        }
    }
}
