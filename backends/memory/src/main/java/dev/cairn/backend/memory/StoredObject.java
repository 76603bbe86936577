package dev.cairn.backend.memory;

import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
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
    /** Where the memory goes when the last reference is dropped, unless it was shared. */
    private final RecycledBuffers recycled;
    /** Whether another allocator holds this memory too ({@link #share}): then it is freed, never reused. */
    private volatile boolean shared;
    /** The store's count of object bytes: this object's size from now until its memory is freed or kept. */
    private final LongAdder objectBytes;

    StoredObject(ArrowBuf buffer, int size, Instant lastModified, RecycledBuffers recycled, LongAdder objectBytes) {
        this.buffer = buffer;
        this.size = size;
        this.lastModified = lastModified;
        this.recycled = recycled;
        this.objectBytes = objectBytes;
        objectBytes.add(size);
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

    /** A read-only view of {@code length} bytes from {@code offset}, within the object. Call with a reference held. */
    ByteBuffer view(long offset, int length) {
        java.util.Objects.checkFromIndexSize(offset, length, size);
        if (length == 0) {
            return ByteBuffer.allocate(0).asReadOnlyBuffer();
        }
        return buffer.nioBuffer(offset, length).asReadOnlyBuffer();
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
        this.shared = true;
        ArrowBuf view = buffer.getReferenceManager().retain(buffer, target);
        view.readerIndex(0);
        view.writerIndex(size);
        return view;
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

    /**
     * Drops a reference; the last one frees the memory or, where no other allocator shares it, keeps it for reuse
     * ({@link RecycledBuffers}): no reader holds it any more, and none can take a reference again.
     */
    void release() {
        int remaining = references.decrementAndGet();
        if (remaining == 0) {
            objectBytes.add(-size);
            if (shared) {
                buffer.close();
            } else {
                recycled.give(buffer);
            }
        } else if (remaining < 0) {
            throw new IllegalStateException("object released more often than retained");
        }
    }
}
