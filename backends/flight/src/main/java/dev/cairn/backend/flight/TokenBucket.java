package dev.cairn.backend.flight;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Paces replication traffic to a rate in bytes per second. A taker takes its bytes at once and, if that leaves the
 * bucket in debt, sleeps until the debt is paid; so a piece larger than the bucket still passes. The bucket holds
 * one piece, so {@code n} bytes take at least {@code (n - piece) / rate} seconds.
 */
final class TokenBucket {
    private static final long NANOS_PER_SECOND = TimeUnit.SECONDS.toNanos(1);

    private final long bytesPerSecond;
    private final long burst;
    private long tokens;
    private long refilledAt;

    TokenBucket(long bytesPerSecond, long burst) {
        this.bytesPerSecond = bytesPerSecond;
        this.burst = burst;
        this.tokens = burst;
        this.refilledAt = System.nanoTime();
    }

    /** Whether this bucket limits anything at all. */
    boolean unlimited() {
        return bytesPerSecond == PeerMemoryConfig.UNLIMITED;
    }

    /** Takes {@code bytes}, waiting until the rate allows them; false if {@code deadlineNanos} would pass first. */
    boolean take(long bytes, long deadlineNanos) throws InterruptedException {
        if (unlimited()) {
            return true;
        }
        long waitNanos;
        synchronized (this) {
            long now = System.nanoTime();
            long earned = (long) ((now - refilledAt) * (bytesPerSecond / (double) NANOS_PER_SECOND));
            if (earned > 0) {
                tokens = Math.min(burst, tokens + earned);
                refilledAt = now;
            }
            long after = tokens - bytes;
            waitNanos = after >= 0 ? 0 : (long) (-after * (NANOS_PER_SECOND / (double) bytesPerSecond));
            if (now + waitNanos - deadlineNanos > 0) {
                return false;
            }
            tokens = after; // a later taker waits behind this one's debt
        }
        sleep(waitNanos);
        return true;
    }

    private static void sleep(long nanos) throws InterruptedException {
        long until = System.nanoTime() + nanos;
        for (long left = nanos; left > 0; left = until - System.nanoTime()) {
            LockSupport.parkNanos(left);
            if (Thread.interrupted()) {
                throw new InterruptedException("replication pacing interrupted");
            }
        }
    }
}
