package dev.cairn.tiers.internal.codec;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * MurmurHash3 x64 128-bit over a region of a buffer: the content key of a chunk in manifest formats 1 and 2
 * ({@link ContentHash#MURMUR3_128}). Kept to verify and restore checkpoints of those formats; new saves hash with
 * {@link Xxh3Hash}. Reads eight bytes at a time from the buffer, in whatever byte order it has (swapping where it is
 * big-endian), without copying or duplicating it: nothing is allocated per call.
 */
final class Murmur3Hash {
    private static final long C1 = 0x87c37b91114253d5L;
    private static final long C2 = 0x4cf5ad432745937fL;

    private Murmur3Hash() {
    }

    /**
     * Both 64-bit halves of the hash of {@code length} bytes of {@code src} from absolute index {@code offset}, into
     * {@code out[0]} (h1) and {@code out[1]} (h2), the order of their hex form.
     */
    static void hash(ByteBuffer buf, int offset, int length, long[] out) {
        boolean swap = buf.order() != ByteOrder.LITTLE_ENDIAN;
        long h1 = 0;
        long h2 = 0;
        int blocks = length >>> 4;
        int i = offset;
        for (int b = 0; b < blocks; b++, i += 16) {
            long k1 = swap ? Long.reverseBytes(buf.getLong(i)) : buf.getLong(i);
            long k2 = swap ? Long.reverseBytes(buf.getLong(i + 8)) : buf.getLong(i + 8);
            k1 *= C1;
            k1 = Long.rotateLeft(k1, 31);
            k1 *= C2;
            h1 ^= k1;
            h1 = Long.rotateLeft(h1, 27);
            h1 += h2;
            h1 = h1 * 5 + 0x52dce729;
            k2 *= C2;
            k2 = Long.rotateLeft(k2, 33);
            k2 *= C1;
            h2 ^= k2;
            h2 = Long.rotateLeft(h2, 31);
            h2 += h1;
            h2 = h2 * 5 + 0x38495ab5;
        }
        long k1 = 0;
        long k2 = 0;
        int tail = length & 15;
        for (int t = tail - 1; t >= 8; t--) {
            k2 ^= (buf.get(i + t) & 0xffL) << ((t - 8) * 8);
        }
        if (tail > 8) {
            k2 *= C2;
            k2 = Long.rotateLeft(k2, 33);
            k2 *= C1;
            h2 ^= k2;
        }
        for (int t = Math.min(tail, 8) - 1; t >= 0; t--) {
            k1 ^= (buf.get(i + t) & 0xffL) << (t * 8);
        }
        if (tail > 0) {
            k1 *= C1;
            k1 = Long.rotateLeft(k1, 31);
            k1 *= C2;
            h1 ^= k1;
        }
        h1 ^= length;
        h2 ^= length;
        h1 += h2;
        h2 += h1;
        h1 = fmix(h1);
        h2 = fmix(h2);
        h1 += h2;
        h2 += h1;
        out[0] = h1;
        out[1] = h2;
    }

    private static long fmix(long k) {
        k ^= k >>> 33;
        k *= 0xff51afd7ed558ccdL;
        k ^= k >>> 33;
        k *= 0xc4ceb9fe1a85ec53L;
        k ^= k >>> 33;
        return k;
    }
}
