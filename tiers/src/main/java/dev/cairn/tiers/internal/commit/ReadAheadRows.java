package dev.cairn.tiers.internal.commit;

import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.manifest.CommittedManifest;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Pages and rank indexes of committed steps that this process read before its restore asked for them
 * ({@link CommitProtocol#readAheadRows}), by tier and key, each taken once by the read that wants it. Bounded: what a
 * process reads ahead is its own rows of the newest step of each tier (a page or two and one index), far under
 * {@value #MAX_BYTES} bytes; beyond that nothing more is kept, and a read simply asks the store.
 */
final class ReadAheadRows {
    static final long MAX_BYTES = 32L << 20;

    private final Map<String, ByteBuffer> held = new ConcurrentHashMap<>();
    private final AtomicLong bytes = new AtomicLong();

    /** What a reader of {@code tier} takes from (and never adds to). */
    CommittedManifest.ReadAhead takingFor(Tier tier) {
        return new CommittedManifest.ReadAhead() {
            @Override
            public ByteBuffer take(String key) {
                if (held.isEmpty()) {
                    return null;
                }
                ByteBuffer b = held.remove(key(tier, key));
                if (b != null) {
                    bytes.addAndGet(-b.remaining());
                }
                return b;
            }

            @Override
            public void keep(String key, ByteBuffer read) {
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
            public void keep(String key, ByteBuffer read) {
                if (bytes.addAndGet(read.remaining()) > MAX_BYTES) {
                    bytes.addAndGet(-read.remaining());
                    return;
                }
                ByteBuffer before = held.put(key(tier, key), read);
                if (before != null) {
                    bytes.addAndGet(-before.remaining());
                }
            }
        };
    }

    /** Bytes held, for tests. */
    long heldBytes() {
        return bytes.get();
    }

    private static String key(Tier tier, String key) {
        return tier.index() + "/" + key;
    }
}
