package dev.cairn.testkit;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A 64-bit hash of an object's bytes, so that a simulated store that keeps no payload can still tell two versions
 * of an object apart. Word at a time with a MurmurHash3-style mix and finalizer; not cryptographic, and not the
 * engine's chunk hash.
 */
final class ContentHash {
    private static final long C1 = 0x87c37b91114253d5L;
    private static final long C2 = 0x4cf5ad432745937fL;

    private ContentHash() {
    }

    /** The hash of {@code data}'s remaining bytes; its position is untouched. */
    static long of(ByteBuffer data) {
        ByteBuffer bytes = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int from = bytes.position();
        int length = bytes.remaining();
        long h = 0x9e3779b97f4a7c15L ^ length;
        int words = length >>> 3;
        for (int i = 0; i < words; i++) {
            h = Long.rotateLeft(h ^ mixWord(bytes.getLong(from + (i << 3))), 27) * 5 + 0x52dce729;
        }
        long tail = 0;
        for (int i = words << 3; i < length; i++) {
            tail = (tail << 8) | (bytes.get(from + i) & 0xff);
        }
        return finish(h ^ mixWord(tail));
    }

    /** Spreads a 64-bit value over all bits; also used to draw seeded latencies. */
    static long finish(long h) {
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        h *= 0xc4ceb9fe1a85ec53L;
        return h ^ (h >>> 33);
    }

    private static long mixWord(long word) {
        return Long.rotateLeft(word * C1, 31) * C2;
    }
}
