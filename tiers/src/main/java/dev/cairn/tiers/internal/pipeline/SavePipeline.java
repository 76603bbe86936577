package dev.cairn.tiers.internal.pipeline;

import com.lmax.disruptor.SleepingWaitStrategy;
import com.lmax.disruptor.EventHandler;
import com.lmax.disruptor.ExceptionHandler;
import com.lmax.disruptor.RingBuffer;
import com.lmax.disruptor.dsl.Disruptor;
import com.lmax.disruptor.dsl.ProducerType;
import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.SaveMode;
import dev.cairn.TrainingState;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.codec.ChunkCodec;
import dev.cairn.tiers.internal.codec.Scratch;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Capture, the ring and its handlers. {@link #submit} cuts a state into chunks; in COPY mode the caller's thread
 * copies each chunk into a staging slab (the stall, bounded by memory bandwidth), in ZERO_COPY mode the publisher
 * thread hands the caller's own buffers to the encoders. One publisher thread feeds the ring, so the caller never
 * waits on a full ring, only on full staging.
 *
 * <p>Memory: staging (raw and encoded slabs) comes from the staging allocator, whose limit is the configured staging
 * bytes; each encoder's scratch from a child of the scratch allocator. {@link #close} returns all of it, or leaves
 * out what a thread that did not stop still holds, for the owner's allocator to report.
 */
public final class SavePipeline implements AutoCloseable {
    private static final Object STOP = new Object();

    /** Output slabs per encoder: one being filled, one being written, one queued. */
    static final int ENCODED_SLABS_PER_ENCODER = 3;

    private final SlabPool rawPool;
    private final Disruptor<ChunkEvent> disruptor;
    private final RingBuffer<ChunkEvent> ring;
    private final ChunkEncoder[] encoders;
    private final BlockingQueue<Object> toPublish = new LinkedBlockingQueue<>();
    private final Thread publisher;
    private final long waitNanos;

    /**
     * @param allocator staging: raw and encoded slabs
     * @param scratch   the encoders' scratch, outside the staging limit
     */
    public SavePipeline(CairnConfig config, BufferAllocator allocator, BufferAllocator scratch,
                        Consumer<SaveJob> firstTierWritten) {
        int n = config.encoderThreads();
        int encodedSlab = roundUp(ChunkCodec.maxEncodedBytes(config.chunkBytes()));
        long rawBudget = config.stagingBytes() - (long) ENCODED_SLABS_PER_ENCODER * n * encodedSlab;
        int rawSlabs = (int) Math.max(1, Math.min(Integer.MAX_VALUE, rawBudget / roundUp(config.chunkBytes())));
        this.rawPool = new SlabPool(allocator, config.chunkBytes(), rawSlabs);
        this.waitNanos = config.deadline().toNanos();
        AtomicInteger threads = new AtomicInteger();
        this.disruptor = new Disruptor<>(ChunkEvent::new, 1024, r -> {
            Thread t = new Thread(r, "cairn-ring-" + threads.incrementAndGet());
            t.setDaemon(true);
            return t;
        }, ProducerType.SINGLE, new SleepingWaitStrategy(100, 200_000));
        this.encoders = new ChunkEncoder[n];
        PreviousVersions previous = new PreviousVersions();
        for (int k = 0; k < n; k++) {
            // Several ranks could store one content hash in two forms (whole and differential, against different
            // histories), and one form would replace the other under the other rank's manifest: differential chunks
            // are for single-rank runs.
            int fullEvery = config.worldSize() > 1 ? 1 : config.differentialFullEvery();
            encoders[k] = new ChunkEncoder(k, n, fullEvery, freshFor(config), previous,
                    new SlabPool(allocator, encodedSlab, ENCODED_SLABS_PER_ENCODER), waitNanos,
                    new Scratch(scratch, "encoder-" + k));
        }
        disruptor.handleEventsWith((EventHandler<ChunkEvent>[]) encoders).then(new ChunkWriter(firstTierWritten, freshFor(config)));
        disruptor.setDefaultExceptionHandler(new KeepRunning());
        this.ring = disruptor.start();
        this.publisher = new Thread(this::publishLoop, "cairn-publisher");
        publisher.setDaemon(true);
        publisher.start();
    }

    /**
     * How recently a stored chunk must have been written for a save to count on it without writing it again, unless
     * the tier's newest committed step names it: half the shorter of the run's positive gcGrace and the command
     * line's default grace, since a collector in another process ({@code cairn gc}) cannot see this process's pins
     * and deletes any unreferenced chunk older than its grace. Rewriting restarts the chunk's age, so such a collector
     * leaves it alone for the rest of the save (a save that takes longer than the other half is still safe: its
     * commit confirms every chunk it did not write and fails rather than commit one that is gone).
     */
    static java.time.Duration freshFor(CairnConfig config) {
        java.time.Duration grace = config.gcGrace();
        if (grace.isZero() || grace.compareTo(CairnConfig.DEFAULT_GC_GRACE) > 0) {
            grace = CairnConfig.DEFAULT_GC_GRACE;
        }
        return grace.dividedBy(2);
    }

    /** Slab sizes as the staging allocator accounts them (1 KiB segments). */
    private static int roundUp(int bytes) {
        return (bytes + 1023) & ~1023;
    }

    /**
     * Starts {@code job}. COPY: returns after every chunk is in staging, and completes {@code captured}. ZERO_COPY:
     * returns at once; {@code captured} completes when the encoders have read every chunk.
     */
    public void submit(SaveJob job) {
        // Chunks are handed to the encoders only once the whole state is captured, so that on few cores the encoders
        // do not take the CPU from the copy that training waits for; if staging runs out first, what is held goes
        // out to make room (the encoders free it). In ZERO_COPY only chunks that no single direct buffer of the
        // caller holds (heap buffers, blobs, chunks across two buffers) are copied, here on the caller's thread, so
        // the publisher never waits for staging.
        boolean zeroCopy = job.plan().mode() == SaveMode.ZERO_COPY;
        int[] position = new int[1];
        List<Object> held = new ArrayList<>();
        int i = 0;
        try {
            for (; i < job.chunkCount(); i++) {
                if (zeroCopy && job.plan().directSource(i, position) != null) {
                    // Runs of chunks read in place travel as one item: the caller's cost stays near zero.
                    if (!held.isEmpty() && held.get(held.size() - 1) instanceof InPlace run && run.end == i) {
                        run.end = i + 1;
                    } else {
                        held.add(new InPlace(job, i, i + 1));
                    }
                    continue;
                }
                Slab slab = rawPool.tryAcquire();
                if (slab == null) {
                    toPublish.addAll(held);
                    held.clear();
                    slab = rawPool.acquire(waitNanos);
                }
                try {
                    job.plan().copyChunk(i, slab.buffer());
                } catch (RuntimeException e) {
                    slab.release();
                    throw e;
                }
                held.add(new Captured(job, i, slab));
            }
        } catch (RuntimeException e) {
            job.fail(e);
            toPublish.addAll(held);
            // Chunks not captured still pass the ring empty, so the job ends and its futures fail.
            toPublish.add(new Abandoned(job, i));
            throw e;
        }
        toPublish.addAll(held);
        if (!zeroCopy) {
            job.completeCapture();
        }
    }

    private void publishLoop() {
        int[] position = new int[1];
        while (true) {
            Object item;
            try {
                item = toPublish.take();
            } catch (InterruptedException e) {
                return;
            }
            if (item == STOP) {
                return;
            }
            if (item instanceof Captured c) {
                publish(c.job, c.chunk, c.slab.buffer(), 0, c.slab);
            } else if (item instanceof InPlace run) {
                for (int i = run.start; i < run.end; i++) {
                    ByteBuffer src = run.job.failure() == null ? run.job.plan().directSource(i, position) : null;
                    publish(run.job, i, src, position[0], null);
                }
            } else if (item instanceof Abandoned a) {
                for (int i = a.fromChunk; i < a.job.chunkCount(); i++) {
                    publish(a.job, i, null, 0, null);
                }
            }
        }
    }

    private void publish(SaveJob job, int chunk, ByteBuffer src, int pos, Slab raw) {
        long seq = ring.next();
        try {
            ring.get(seq).load(job, chunk, src, pos, raw);
        } finally {
            ring.publish(seq);
        }
    }

    /** Slabs of staging handed out right now; zero when idle (tests use this to find leaks). */
    public int slabsInUse() {
        int n = rawPool.inUse();
        for (ChunkEncoder e : encoders) {
            n += e.slabsInUse();
        }
        return n;
    }

    @Override
    public void close() {
        toPublish.add(STOP);
        try {
            publisher.join(TimeUnit.SECONDS.toMillis(10));
            disruptor.shutdown(10, TimeUnit.SECONDS);
        } catch (InterruptedException | com.lmax.disruptor.TimeoutException e) {
            disruptor.halt();
        }
        for (ChunkEncoder e : encoders) {
            e.close(TimeUnit.SECONDS.toNanos(10));
        }
        rawPool.close();
    }

    private record Captured(SaveJob job, int chunk, Slab slab) {
    }

    private record Abandoned(SaveJob job, int fromChunk) {
    }

    /** ZERO_COPY chunks [start, end) that the encoders read in the caller's own buffers. */
    private static final class InPlace {
        final SaveJob job;
        final int start;
        int end;

        InPlace(SaveJob job, int start, int end) {
            this.job = job;
            this.start = start;
            this.end = end;
        }
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
