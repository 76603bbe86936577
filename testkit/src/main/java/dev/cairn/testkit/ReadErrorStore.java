package dev.cairn.testkit;

import dev.cairn.ObjectStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;

/**
 * A store whose reads of chosen keys fail as a failing disk's do: {@code IOException("Input/output error")}, the
 * message the JDK gives for EIO, without naming the file (the kernel does not). Writes, stats and listings pass
 * through, so the keys stay listed and stat-able while their bytes cannot be read, as on a disk with bad sectors.
 * A read of a chosen key may also first deliver part of the object ({@link #failAfterBytes}) and fail on the next
 * call, as a read that crosses into a bad sector does.
 */
public final class ReadErrorStore extends ForwardingObjectStore {
    /** The message of an EIO as {@code FileChannel.read} reports it. */
    public static final String EIO = "Input/output error";

    private volatile Predicate<String> failing = key -> false;
    private volatile long failAfterBytes;
    private final AtomicLong failures = new AtomicLong();

    /** Wraps {@code delegate}; closing this store closes it. */
    public ReadErrorStore(ObjectStore delegate) {
        super(Objects.requireNonNull(delegate, "delegate"));
    }

    /** From now on, reads of keys {@code which} accepts fail; replaces the previous choice. */
    public ReadErrorStore failReadsOf(Predicate<String> which) {
        this.failing = Objects.requireNonNull(which, "which");
        return this;
    }

    /** Reads that start below {@code bytes} into a failing key succeed; the first at or past it fails. 0: every read fails. */
    public ReadErrorStore failAfterBytes(long bytes) {
        this.failAfterBytes = bytes;
        return this;
    }

    /** Every read succeeds again. */
    public ReadErrorStore heal() {
        this.failing = key -> false;
        return this;
    }

    /** Reads failed so far. */
    public long failures() {
        return failures.get();
    }

    @Override
    public int read(String key, long offset, ByteBuffer dst) throws IOException {
        if (offset >= failAfterBytes && failing.test(key)) {
            failures.incrementAndGet();
            throw new IOException(EIO);
        }
        if (failing.test(key) && offset + dst.remaining() > failAfterBytes) {
            // Up to the bad spot only: the caller's next read, at the bad spot, fails.
            int limit = dst.limit();
            dst.limit(dst.position() + (int) (failAfterBytes - offset));
            try {
                return delegate.read(key, offset, dst);
            } finally {
                dst.limit(limit);
            }
        }
        return delegate.read(key, offset, dst);
    }

    @Override
    public String describe() {
        return "read-errors(" + delegate.describe() + ")";
    }
}
