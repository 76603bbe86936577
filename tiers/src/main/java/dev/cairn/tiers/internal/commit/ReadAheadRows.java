package dev.cairn.tiers.internal.commit;

import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.manifest.CommittedManifest;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Pages and rank indexes of committed steps that this process reads before its restore asks for them
 * ({@link CommitProtocol#readAheadRows}), by tier and key, each taken once by the read that wants it. A read of a key
 * whose read ahead is still running waits for it (as a MANIFEST's second reader waits for the first), so that the
 * restore never reads the same bytes twice. Bounded: what a process reads ahead is its own rows of the newest step of
 * each tier (a page or two and one or two indexes), far under {@value #MAX_BYTES} bytes, and everything is let go
 * when the first restore ends ({@link #clear}), taken or not.
 */
final class ReadAheadRows {
    static final long MAX_BYTES = 32L << 20;
    /** The longest a read waits for the same key's read ahead: past it, it reads itself. */
    private static final long WAIT_SECONDS = 30;

    private final Map<String, CompletableFuture<ByteBuffer>> held = new ConcurrentHashMap<>();
    private final AtomicLong bytes = new AtomicLong();
    /** Guarded by this: a restore began, and nothing more is read ahead. */
    private boolean restoring;

    /** What a reader of {@code tier} takes from (and never adds to). */
    CommittedManifest.ReadAhead takingFor(Tier tier) {
        return key -> {
            if (held.isEmpty()) {
                return null;
            }
            String k = key(tier, key);
            CompletableFuture<ByteBuffer> f = held.get(k);
            if (f == null) {
                return null;
            }
            try {
                // Left in place while it runs: the read ahead finds its future by the key to complete it (removed
                // first, the read ahead found none and this read waited out WAIT_SECONDS for nothing).
                ByteBuffer b = f.get(WAIT_SECONDS, TimeUnit.SECONDS);
                if (b == null || !held.remove(k, f)) {
                    return null; // failed, let go (clear), or taken by another read: this read asks the store itself
                }
                bytes.addAndGet(-b.remaining());
                return b;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            } catch (ExecutionException | TimeoutException e) {
                return null; // the read ahead failed or hangs: this read asks the store itself
            }
        };
    }

    /** What the read ahead of {@code tier} keeps its reads in (and never takes from). */
    CommittedManifest.ReadAhead keepingFor(Tier tier) {
        return new CommittedManifest.ReadAhead() {
            @Override
            public ByteBuffer take(String key) {
                return null;
            }

            @Override
            public boolean reading(String key) {
                synchronized (ReadAheadRows.this) {
                    if (restoring) {
                        return false; // the restore reads what it needs itself: nothing is read twice
                    }
                    held.putIfAbsent(key(tier, key), new CompletableFuture<>());
                    return true;
                }
            }

            @Override
            public void read(String key, ByteBuffer read) {
                CompletableFuture<ByteBuffer> f = held.get(key(tier, key));
                if (f == null) {
                    return; // let go since (clear), or never announced
                }
                if (read == null || bytes.addAndGet(read.remaining()) > MAX_BYTES) {
                    if (read != null) {
                        bytes.addAndGet(-read.remaining());
                    }
                    held.remove(key(tier, key), f);
                    f.complete(null);
                    return;
                }
                f.complete(read);
            }
        };
    }

    /**
     * The first restore begins: a read ahead not started by now is not started at all (its read would come after, or
     * beside, the restore's own), and one started is waited for by the restore's read of the same key.
     */
    synchronized void restoreBegins() {
        restoring = true;
    }

    /** Lets go of everything read ahead, and keeps nothing read ahead from now on: the first restore has ended. */
    void clear() {
        restoreBegins();
        for (String key : held.keySet()) {
            CompletableFuture<ByteBuffer> f = held.remove(key);
            if (f != null) {
                f.complete(null);
            }
        }
        bytes.set(0);
    }

    private static String key(Tier tier, String key) {
        return tier.index() + "/" + key;
    }
}
