package dev.cairn.backend.memory;

import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;

/**
 * One immutable object: its off-heap bytes and when they were put.
 *
 * <p>Reference counted so that replacing or deleting an object cannot free memory a reader is still copying
 * from. The store's map owns the first reference; a reader {@link #retain()}s before copying and releases
 * after. The count never rises again once it reaches zero, so a reader that loses the race is told to look
 * the key up again instead of touching freed memory.
 */
final class StoredObject {
    private final ArrowBuf buffer;
    private final int size;
    private final Instant lastModified;
    private final AtomicInteger references = new AtomicInteger(1);

    StoredObject(ArrowBuf buffer, int size, Instant lastModified) {
        this.buffer = buffer;
        this.size = size;
        this.lastModified = lastModified;
    }

    int size() {
        return size;
    }

    Instant lastModified() {
        return lastModified;
    }

    /**
     * Copies the remaining bytes of {@code parts} in, one after the other, leaving their positions untouched. Only
     * before publication.
     */
    void copyFrom(ByteBuffer[] parts) {
        long at = 0;
        for (ByteBuffer p : parts) {
            int n = p.remaining();
            if (n > 0) {
                buffer.setBytes(at, p.duplicate());
                at += n;
            }
        }
    }

    /** Copies from {@code offset} into {@code dst}, advancing its position; 0 at or after the end. */
    int copyTo(long offset, ByteBuffer dst) {
        if (offset >= size) {
            return 0;
        }
        int length = (int) Math.min(dst.remaining(), size - offset);
        ByteBuffer window = dst.duplicate();
        window.limit(window.position() + length);
        buffer.getBytes(offset, window);
        dst.position(dst.position() + length);
        return length;
    }

    /**
     * The bytes as a new buffer of {@code target} over the same memory, holding its own reference on it (Arrow's
     * cross-allocator retain), so that the memory outlives this object's release until that buffer is closed too.
     * Its readable bytes are the object's. Call with a reference held ({@link #retain()}).
     */
    ArrowBuf share(BufferAllocator target) {
        if (size == 0) {
            return target.getEmpty();
        }
        ArrowBuf shared = buffer.getReferenceManager().retain(buffer, target);
        shared.readerIndex(0);
        shared.writerIndex(size);
        return shared;
    }

    /** Takes a reference for a read; false if the object is already freed. */
    boolean retain() {
        int count;
        do {
            count = references.get();
            if (count == 0) {
                return false;
            }
        } while (!references.compareAndSet(count, count + 1));
        return true;
    }

    /** Drops a reference; the last one frees the memory. */
    void release() {
        int remaining = references.decrementAndGet();
        if (remaining == 0) {
            buffer.close();
        } else if (remaining < 0) {
            throw new IllegalStateException("object released more often than retained");
        }
    }
}
