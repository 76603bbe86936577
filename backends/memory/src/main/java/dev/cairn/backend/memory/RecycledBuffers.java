package dev.cairn.backend.memory;

import java.util.ArrayDeque;
import java.util.Map;
import java.util.TreeMap;
import org.apache.arrow.memory.ArrowBuf;

/**
 * The memory of deleted and replaced objects, kept for the next put of a similar size instead of being freed.
 *
 * <p>Why: a checkpointing run puts every step about as many bytes as its retention deletes, in objects of a few
 * sizes (chunks). Freed to the C allocator and allocated again, that memory came back from the kernel page by
 * page: in 4 rank JVMs saving 24 MiB each per step into peer memory, the memory stores' threads took ~25,000 page
 * faults a step, 2.2 s of system time over 14 steps, which made the commit wait on two cores (bench/RESULTS.md).
 *
 * <p>Only buffers of at least {@link #MIN_BYTES} are kept, and a kept buffer serves a put of its capacity down to 1/16
 * less (the best fit): an object then takes up to 1/16 more memory than its size. What is kept is bounded
 * ({@code maxBytes}); it still counts against the store's allocator, and a put that does not fit frees everything
 * kept first ({@link #drain}), so keeping never makes a put fail.
 * Thread-safe.
 */
final class RecycledBuffers {
    /** Smaller objects (manifests, indexes, notices) are allocated exactly and freed. */
    static final long MIN_BYTES = 256 << 10;

    private final long maxBytes;
    private final TreeMap<Long, ArrayDeque<ArrowBuf>> byCapacity = new TreeMap<>();
    private long keptBytes;
    private long reused;
    private boolean closed;

    RecycledBuffers(long maxBytes) {
        this.maxBytes = maxBytes;
    }

    /** A kept buffer that holds {@code size} bytes with little to spare, or null. */
    synchronized ArrowBuf take(long size) {
        if (size < MIN_BYTES) {
            return null;
        }
        Map.Entry<Long, ArrayDeque<ArrowBuf>> fit = byCapacity.ceilingEntry(size);
        if (fit == null || fit.getKey() > size + size / 16) {
            return null;
        }
        ArrowBuf buf = fit.getValue().pollFirst();
        if (fit.getValue().isEmpty()) {
            byCapacity.remove(fit.getKey());
        }
        keptBytes -= buf.capacity();
        reused++;
        return buf;
    }

    /** Keeps {@code buf} for reuse, or frees it when it is small or the bound is reached. */
    void give(ArrowBuf buf) {
        long capacity = buf.capacity();
        if (capacity >= MIN_BYTES) {
            synchronized (this) {
                if (!closed && keptBytes + capacity <= maxBytes) {
                    byCapacity.computeIfAbsent(capacity, c -> new ArrayDeque<>()).addFirst(buf);
                    keptBytes += capacity;
                    return;
                }
            }
        }
        buf.close();
    }

    /** Frees everything kept; returns how many bytes that was. */
    long drain() {
        ArrayDeque<ArrowBuf> all = new ArrayDeque<>();
        long freed;
        synchronized (this) {
            byCapacity.values().forEach(all::addAll);
            byCapacity.clear();
            freed = keptBytes;
            keptBytes = 0;
        }
        all.forEach(ArrowBuf::close);
        return freed;
    }

    /** Frees everything kept, and from now on whatever is given back: the store is closing. */
    void close() {
        synchronized (this) {
            closed = true;
        }
        drain();
    }

    /** Bytes kept now, allocated but holding no object. */
    synchronized long keptBytes() {
        return keptBytes;
    }

    /** How many puts took a kept buffer instead of new memory, since the store opened. */
    synchronized long reused() {
        return reused;
    }
}
