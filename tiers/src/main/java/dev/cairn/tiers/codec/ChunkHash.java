package dev.cairn.tiers.codec;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * MurmurHash3 x64 128-bit over a region of a buffer: the content key of a chunk. Not cryptographic; it guards
 * against corruption and identifies content, and 128 bits keep accidental collisions out of reach at any
 * realistic number of chunks. Reads eight bytes at a time from the buffer, so it runs at memory speed on
 * direct buffers without copying them to the heap.
 */
public final class ChunkHash {
    private static final long C1 = 0x87c37b91114253d5L;
    private static final long C2 = 0x4cf5ad432745937fL;
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private ChunkHash() {
    }

    /** The hash of {@code length} bytes of {@code buf} from absolute index {@code offset}, as 32 lowercase hex digits. */
    public static String hex(ByteBuffer buf, int offset, int length) {
        long[] h = hash(buf, offset, length, 0);
        return toHex(h[0], h[1]);
    }

    /** The hash of a byte array, as hex. */
    public static String hex(byte[] bytes) {
        return hex(ByteBuffer.wrap(bytes), 0, bytes.length);
    }

    /** Both 64-bit halves of the hash. */
    public static long[] hash(ByteBuffer src, int offset, int length, long seed) {
        ByteBuffer buf = src.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        long h1 = seed;
        long h2 = seed;
        int blocks = length >>> 4;
        int i = offset;
        for (int b = 0; b < blocks; b++, i += 16) {
            long k1 = buf.getLong(i);
            long k2 = buf.getLong(i + 8);
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
        return new long[] {h1, h2};
    }

    /** Whether {@code s} looks like a hash this class produces. */
    public static boolean isHex(String s) {
        if (s == null || s.length() != 32) {
            return false;
        }
        for (int i = 0; i < 32; i++) {
            char c = s.charAt(i);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                return false;
            }
        }
        return true;
    }

    private static long fmix(long k) {
        k ^= k >>> 33;
        k *= 0xff51afd7ed558ccdL;
        k ^= k >>> 33;
        k *= 0xc4ceb9fe1a85ec53L;
        k ^= k >>> 33;
        return k;
    }

    private static String toHex(long a, long b) {
        char[] out = new char[32];
        for (int i = 0; i < 16; i++) {
            out[15 - i] = HEX[(int) (a >>> (i * 4)) & 15];
            out[31 - i] = HEX[(int) (b >>> (i * 4)) & 15];
        }
        return new String(out);
    }
}
