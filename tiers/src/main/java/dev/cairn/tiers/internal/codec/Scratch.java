package dev.cairn.tiers.internal.codec;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.AllocationListener;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.rounding.SegmentRoundingPolicy;

/**
 * The off-heap scratch of one worker (an encoder, a reader, a promotion's copy): growable direct buffers from an Arrow
 * allocator of its own, a child of its owner's. {@link #close} frees them all and closes that allocator, which fails
 * (Arrow's leak check) if anything allocated from it is still out; the owner's allocator fails in turn if a scratch
 * was never closed. Confined to one thread at a time; a buffer's bytes are undefined until written.
 */
public final class Scratch implements AutoCloseable {
    private final BufferAllocator allocator;
    /** The root this scratch made for itself ({@link #standalone}), closed with it; null under an owner's allocator. */
    private final BufferAllocator ownRoot;
    private final List<Buffer> buffers = new ArrayList<>();
    private boolean closed;

    /** Scratch under {@code parent}: a child allocator named {@code name}, without a limit. */
    public Scratch(BufferAllocator parent, String name) {
        this(parent, name, null);
    }

    private Scratch(BufferAllocator parent, String name, BufferAllocator ownRoot) {
        this.allocator = parent.newChildAllocator(name, 0, Long.MAX_VALUE);
        this.ownRoot = ownRoot;
    }

    /**
     * A root allocator for scratch, without a limit, that rounds sizes up to 1 KiB instead of to a power of two (a
     * stored chunk's bound, just above 4 MiB, would otherwise take 8 MiB).
     */
    public static BufferAllocator newRoot() {
        return new RootAllocator(AllocationListener.NOOP, Long.MAX_VALUE, new SegmentRoundingPolicy(1024));
    }

    /** Scratch with a root of its own, for a worker that no checkpointer owns (a tool's reader, a benchmark). */
    public static Scratch standalone(String name) {
        BufferAllocator root = newRoot();
        try {
            return new Scratch(root, name, root);
        } catch (RuntimeException e) {
            root.close();
            throw e;
        }
    }

    /** A new buffer of this scratch, empty until first asked for bytes. */
    public Buffer buffer() {
        if (closed) {
            throw new IllegalStateException("scratch " + allocator.getName() + " is closed");
        }
        Buffer b = new Buffer();
        buffers.add(b);
        return b;
    }

    /** Bytes allocated by this scratch right now. */
    public long allocatedBytes() {
        return allocator.getAllocatedMemory();
    }

    /** Frees every buffer; fails if its allocator still has memory out. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Buffer b : buffers) {
            b.free();
        }
        buffers.clear();
        try {
            allocator.close();
        } finally {
            if (ownRoot != null) {
                ownRoot.close();
            }
        }
    }

    /** One growable direct buffer; its memory belongs to the scratch that made it. */
    public final class Buffer {
        private ArrowBuf buf;
        private ByteBuffer view;

        private Buffer() {
        }

        /**
         * A direct view of at least {@code capacity} bytes, position 0 and limit its capacity; valid until the next
         * call that grows it and until the scratch is closed. Growing does not keep the old bytes.
         */
        public ByteBuffer atLeast(int capacity) {
            if (view == null || view.capacity() < capacity) {
                grow(capacity);
            }
            return view.clear();
        }

        /**
         * {@link #atLeast} of {@code capacity} bytes, every page of it written once, so that the first real use does
         * not take a page fault per 4 KiB (fresh memory from the allocator is mapped only when first touched: a
         * replacement's first restore spent a third of its threads' time in such faults).
         */
        public void prefault(int capacity) {
            atLeast(capacity);
            buf.setZero(0, view.capacity());
        }

        private void grow(int capacity) {
            if (closed) {
                throw new IllegalStateException("scratch " + allocator.getName() + " is closed");
            }
            free();
            ArrowBuf fresh = allocator.buffer(Math.max(1, capacity));
            buf = fresh;
            view = fresh.nioBuffer(0, (int) Math.min(Integer.MAX_VALUE, fresh.capacity()));
        }

        private void free() {
            if (buf != null) {
                buf.close();
                buf = null;
                view = null;
            }
        }
    }
}
