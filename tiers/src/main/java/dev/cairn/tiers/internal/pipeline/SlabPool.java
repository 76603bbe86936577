package dev.cairn.tiers.internal.pipeline;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;

/**
 * A bounded set of equal slabs from an Arrow allocator, allocated on first use and reused after: the hard limit
 * on staging memory. {@link #acquire} waits while every slab is out, up to a deadline.
 */
final class SlabPool implements AutoCloseable {
    private final BufferAllocator allocator;
    private final int slabBytes;
    private final int alignment;
    private final int maxSlabs;
    private final ArrayDeque<Slab> free = new ArrayDeque<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition returned = lock.newCondition();
    private int allocated;
    /** Slabs handed out and not returned (unlike {@link #inUse}, not counting one being prefaulted). */
    private int out;
    private boolean closed;

    public SlabPool(BufferAllocator allocator, int slabBytes, int maxSlabs) {
        this(allocator, slabBytes, maxSlabs, 1);
    }

    /**
     * @param alignment a power of two: each slab's view starts at an address that is a multiple of it (its allocation
     *                  is {@link #allocationBytes} long), so that stores can hand it to the device as it is
     */
    public SlabPool(BufferAllocator allocator, int slabBytes, int maxSlabs, int alignment) {
        if (alignment < 1 || Integer.bitCount(alignment) != 1) {
            throw new IllegalArgumentException("alignment " + alignment + " is not a power of two");
        }
        this.alignment = alignment;
        if (maxSlabs < 1) {
            throw new IllegalArgumentException("a pool needs at least one slab");
        }
        this.allocator = allocator;
        this.slabBytes = slabBytes;
        this.maxSlabs = maxSlabs;
    }

    /** A slab, waiting at most {@code timeoutNanos}; fails with TIMEOUT or CLOSED. */
    public Slab acquire(long timeoutNanos) {
        lock.lock();
        try {
            long left = timeoutNanos;
            while (true) {
                if (closed) {
                    throw new CheckpointException(Reason.CLOSED, "staging memory is closed");
                }
                Slab s = free.pollFirst();
                if (s != null) {
                    return handOut(s);
                }
                if (allocated < maxSlabs) {
                    return handOut(allocate());
                }
                if (left <= 0) {
                    throw new CheckpointException(Reason.TIMEOUT, "no staging memory freed within the deadline ("
                            + maxSlabs + " slabs of " + slabBytes + " bytes all in use)");
                }
                left = returned.awaitNanos(left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CheckpointException(Reason.CLOSED, "interrupted while waiting for staging memory", e);
        } finally {
            lock.unlock();
        }
    }

    /** What a slab of {@code slabBytes} aligned to {@code alignment} takes from its allocator. */
    static int allocationBytes(int slabBytes, int alignment) {
        return slabBytes + alignment - 1;
    }

    /** A slab if one is free or may still be allocated, else null at once. */
    public Slab tryAcquire() {
        lock.lock();
        try {
            if (closed) {
                throw new CheckpointException(Reason.CLOSED, "staging memory is closed");
            }
            Slab s = free.pollFirst();
            return s != null ? handOut(s) : allocated < maxSlabs ? handOut(allocate()) : null;
        } finally {
            lock.unlock();
        }
    }

    private Slab allocate() {
        try {
            ArrowBuf buf = allocator.buffer(allocationBytes(slabBytes, alignment));
            Slab fresh = new Slab(buf, (int) (-buf.memoryAddress() & (alignment - 1)), slabBytes, this);
            allocated++;
            return fresh;
        } catch (org.apache.arrow.memory.OutOfMemoryException e) {
            throw new CheckpointException(Reason.INVALID_CONFIG, "staging memory exhausted: " + e.getMessage()
                    + "; raise stagingBytes or lower chunkBytes", e);
        }
    }

    /**
     * Allocates every slab not allocated yet and writes each page of it once, so that no save later pays for the
     * allocation or the page faults (CairnConfig.Builder#prefaultStaging). Slabs go to the free list one by one, so
     * a save running meanwhile takes them as they come; stops early when the pool closes. Returns the slabs made.
     */
    public int prefault() {
        int made = 0;
        while (true) {
            Slab fresh;
            lock.lock();
            try {
                if (closed || allocated >= maxSlabs) {
                    return made;
                }
                fresh = allocate();
            } finally {
                lock.unlock();
            }
            fresh.buf.setZero(0, fresh.buf.capacity()); // touches every page, outside the lock
            lock.lock();
            try {
                if (closed) {
                    allocated--;
                    fresh.buf.close();
                    return made;
                }
                free.addLast(fresh);
                returned.signal();
                made++;
            } finally {
                lock.unlock();
            }
        }
    }

    private Slab handOut(Slab s) {
        s.handedOut = true;
        out++;
        return s;
    }

    /**
     * Takes back a slab this pool handed out; IllegalStateException when it is not out (released twice), which
     * would otherwise put it twice in the free list and hand one slab to two holders.
     */
    public void release(Slab slab) {
        lock.lock();
        try {
            if (!slab.handedOut) {
                throw new IllegalStateException("slab of " + slabBytes + " bytes released twice (or never handed out)");
            }
            slab.handedOut = false;
            out--;
            if (closed) {
                allocated--;
                slab.buf.close();
            } else {
                free.addFirst(slab);
                returned.signal();
            }
        } finally {
            lock.unlock();
        }
    }

    public int slabBytes() {
        return slabBytes;
    }

    /** Whether every slab the pool may have is handed out: an acquire now waits for one to come back. */
    public boolean exhausted() {
        lock.lock();
        try {
            return free.isEmpty() && allocated >= maxSlabs;
        } finally {
            lock.unlock();
        }
    }

    /** Whether any slab is handed out now (a slab being prefaulted is not). */
    public boolean anyHandedOut() {
        lock.lock();
        try {
            return out > 0;
        } finally {
            lock.unlock();
        }
    }

    /** Slabs handed out and not yet returned. */
    public int inUse() {
        lock.lock();
        try {
            return allocated - free.size();
        } finally {
            lock.unlock();
        }
    }

    /** Frees the idle slabs; slabs still out are freed as they come back. */
    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            for (Slab s : free) {
                s.buf.close();
                allocated--;
            }
            free.clear();
            returned.signalAll();
        } finally {
            lock.unlock();
        }
    }
}
