package dev.cairn.tiers.internal.codec;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * Regroups the bytes of little-endian values of 2, 4 or 8 bytes so that byte {@code p} of every value lies together
 * (plane {@code p}): the sign and exponent bytes of floats then form long runs that zstd shrinks, where the
 * interleaved layout defeats it. Lossless and its own inverse up to the order of rows.
 * <pre>
 * region of len bytes:   | body: len rounded down to 64 bytes               | tail (len % 64) |
 * split:                 | plane 0 | plane 1 | ... | plane e-1              | tail, verbatim  |
 *                          each plane body/e bytes: for every 64-byte block in order, its 64/e bytes of
 *                          position p (8 bytes from each row r of the block's 8x8 transpose with r % e == p)
 * </pre>
 * The kernel works a word at a time: a 64-byte block is read as eight longs, transposed as an 8x8 byte matrix with
 * three rounds of masked swaps (Hacker's Delight 7-3, on bytes instead of bits), and written as eight longs. Row
 * {@code r} of the transpose is byte {@code r} of each of the eight longs, which is byte {@code r % e} of a value,
 * so each row goes whole to one plane. No loop touches single bytes except the tail.
 *
 * <p>Both buffers must be direct. As {@link FloatPlanes}, the kernels check the bounds of both regions once, then read
 * and write by address: through a {@code ByteBuffer} view {@code VarHandle}, the scope and index check of every access
 * was what a profile of every-step saves of the examples' MLP sampled most (44 % of the pipeline's Java samples, in
 * the split of the byte-planes codec of Adam's second moments).
 */
public final class BytePlanes {
    private static final long M32 = 0x00000000FFFFFFFFL;
    private static final long M16 = 0x0000FFFF0000FFFFL;
    private static final long M8 = 0x00FF00FF00FF00FFL;

    private BytePlanes() {
    }

    /** Whether {@code elementSize} is one this class splits. */
    public static boolean supports(int elementSize) {
        return elementSize == 2 || elementSize == 4 || elementSize == 8;
    }

    /** Writes the planes of {@code src[srcOff, srcOff+len)} to {@code dst[dstOff, dstOff+len)}. */
    public static void split(ByteBuffer src, int srcOff, int len, int elementSize, ByteBuffer dst, int dstOff) {
        check(elementSize);
        long from = FloatPlanes.address(src, srcOff, len, false);
        long to = FloatPlanes.address(dst, dstOff, len, true);
        int body = len & ~63;
        int plane = body / elementSize;
        int shift = Integer.numberOfTrailingZeros(elementSize);
        int mask = elementSize - 1;
        int step = 64 / elementSize;
        for (int in = 0, at = 0; in < body; in += 64, at += step) {
            long s = from + in;
            long r0 = getLong(s);
            long r1 = getLong(s + 8);
            long r2 = getLong(s + 16);
            long r3 = getLong(s + 24);
            long r4 = getLong(s + 32);
            long r5 = getLong(s + 40);
            long r6 = getLong(s + 48);
            long r7 = getLong(s + 56);
            long t;
            t = ((r0 >>> 32) ^ r4) & M32; r0 ^= t << 32; r4 ^= t;
            t = ((r1 >>> 32) ^ r5) & M32; r1 ^= t << 32; r5 ^= t;
            t = ((r2 >>> 32) ^ r6) & M32; r2 ^= t << 32; r6 ^= t;
            t = ((r3 >>> 32) ^ r7) & M32; r3 ^= t << 32; r7 ^= t;
            t = ((r0 >>> 16) ^ r2) & M16; r0 ^= t << 16; r2 ^= t;
            t = ((r1 >>> 16) ^ r3) & M16; r1 ^= t << 16; r3 ^= t;
            t = ((r4 >>> 16) ^ r6) & M16; r4 ^= t << 16; r6 ^= t;
            t = ((r5 >>> 16) ^ r7) & M16; r5 ^= t << 16; r7 ^= t;
            t = ((r0 >>> 8) ^ r1) & M8; r0 ^= t << 8; r1 ^= t;
            t = ((r2 >>> 8) ^ r3) & M8; r2 ^= t << 8; r3 ^= t;
            t = ((r4 >>> 8) ^ r5) & M8; r4 ^= t << 8; r5 ^= t;
            t = ((r6 >>> 8) ^ r7) & M8; r6 ^= t << 8; r7 ^= t;
            long d = to + at;
            putLong(d + rowOffset(0, plane, shift, mask), r0);
            putLong(d + rowOffset(1, plane, shift, mask), r1);
            putLong(d + rowOffset(2, plane, shift, mask), r2);
            putLong(d + rowOffset(3, plane, shift, mask), r3);
            putLong(d + rowOffset(4, plane, shift, mask), r4);
            putLong(d + rowOffset(5, plane, shift, mask), r5);
            putLong(d + rowOffset(6, plane, shift, mask), r6);
            putLong(d + rowOffset(7, plane, shift, mask), r7);
        }
        copyTail(src, srcOff + body, dst, dstOff + body, len - body);
        Reference.reachabilityFence(src); // their memory must outlive the reads and writes by address above
        Reference.reachabilityFence(dst);
    }

    /** The inverse of {@link #split}: reads planes from {@code src} and writes the values to {@code dst}. */
    public static void join(ByteBuffer src, int srcOff, int len, int elementSize, ByteBuffer dst, int dstOff) {
        check(elementSize);
        long from = FloatPlanes.address(src, srcOff, len, false);
        long to = FloatPlanes.address(dst, dstOff, len, true);
        int body = len & ~63;
        int plane = body / elementSize;
        int shift = Integer.numberOfTrailingZeros(elementSize);
        int mask = elementSize - 1;
        int step = 64 / elementSize;
        for (int out = 0, at = 0; out < body; out += 64, at += step) {
            long a = from + at;
            long r0 = getLong(a + rowOffset(0, plane, shift, mask));
            long r1 = getLong(a + rowOffset(1, plane, shift, mask));
            long r2 = getLong(a + rowOffset(2, plane, shift, mask));
            long r3 = getLong(a + rowOffset(3, plane, shift, mask));
            long r4 = getLong(a + rowOffset(4, plane, shift, mask));
            long r5 = getLong(a + rowOffset(5, plane, shift, mask));
            long r6 = getLong(a + rowOffset(6, plane, shift, mask));
            long r7 = getLong(a + rowOffset(7, plane, shift, mask));
            long t;
            t = ((r0 >>> 32) ^ r4) & M32; r0 ^= t << 32; r4 ^= t;
            t = ((r1 >>> 32) ^ r5) & M32; r1 ^= t << 32; r5 ^= t;
            t = ((r2 >>> 32) ^ r6) & M32; r2 ^= t << 32; r6 ^= t;
            t = ((r3 >>> 32) ^ r7) & M32; r3 ^= t << 32; r7 ^= t;
            t = ((r0 >>> 16) ^ r2) & M16; r0 ^= t << 16; r2 ^= t;
            t = ((r1 >>> 16) ^ r3) & M16; r1 ^= t << 16; r3 ^= t;
            t = ((r4 >>> 16) ^ r6) & M16; r4 ^= t << 16; r6 ^= t;
            t = ((r5 >>> 16) ^ r7) & M16; r5 ^= t << 16; r7 ^= t;
            t = ((r0 >>> 8) ^ r1) & M8; r0 ^= t << 8; r1 ^= t;
            t = ((r2 >>> 8) ^ r3) & M8; r2 ^= t << 8; r3 ^= t;
            t = ((r4 >>> 8) ^ r5) & M8; r4 ^= t << 8; r5 ^= t;
            t = ((r6 >>> 8) ^ r7) & M8; r6 ^= t << 8; r7 ^= t;
            long d = to + out;
            putLong(d, r0);
            putLong(d + 8, r1);
            putLong(d + 16, r2);
            putLong(d + 24, r3);
            putLong(d + 32, r4);
            putLong(d + 40, r5);
            putLong(d + 48, r6);
            putLong(d + 56, r7);
        }
        copyTail(src, srcOff + body, dst, dstOff + body, len - body);
        Reference.reachabilityFence(src);
        Reference.reachabilityFence(dst);
    }

    /** The little-endian word at {@code address}, whatever the machine's order. */
    private static long getLong(long address) {
        long x = MemoryUtil.getLong(address);
        return MemoryUtil.LITTLE_ENDIAN ? x : Long.reverseBytes(x);
    }

    private static void putLong(long address, long x) {
        MemoryUtil.putLong(address, MemoryUtil.LITTLE_ENDIAN ? x : Long.reverseBytes(x));
    }

    /** Where row {@code r} of a block's transpose lies, relative to the block's place in plane 0. */
    private static int rowOffset(int r, int plane, int shift, int mask) {
        return (r & mask) * plane + ((r >>> shift) << 3);
    }

    private static void copyTail(ByteBuffer src, int srcOff, ByteBuffer dst, int dstOff, int n) {
        if (n > 0) {
            dst.put(dstOff, src, srcOff, n);
        }
    }

    private static void check(int elementSize) {
        if (!supports(elementSize)) {
            throw new IllegalArgumentException("byte planes need an element size of 2, 4 or 8, not " + elementSize);
        }
    }
}
