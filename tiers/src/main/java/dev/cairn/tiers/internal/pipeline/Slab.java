package dev.cairn.tiers.internal.pipeline;

import java.nio.ByteBuffer;
import org.apache.arrow.memory.ArrowBuf;

/**
 * A fixed-size off-heap buffer owned by a {@link SlabPool}; handed out and returned, never freed in between. Each
 * hand-out is returned exactly once: a second release is a bug (two holders would then share one slab) and fails.
 */
final class Slab {
    final ArrowBuf buf;
    private final SlabPool owner;
    private final ByteBuffer view;
    /** Whether a holder has it; read and written under its pool's lock. */
    boolean handedOut;

    /** A slab over {@code buf[offset, offset + bytes)}. */
    Slab(ArrowBuf buf, int offset, int bytes, SlabPool owner) {
        this.buf = buf;
        this.owner = owner;
        this.view = buf.nioBuffer(offset, bytes);
    }

    /** A view over the whole slab (position 0, limit capacity) for direct-buffer APIs. */
    public ByteBuffer buffer() {
        return view;
    }

    /** Gives the slab back to the pool it came from; IllegalStateException if it is not out. */
    public void release() {
        owner.release(this);
    }

    public int capacity() {
        return view.capacity();
    }
}
