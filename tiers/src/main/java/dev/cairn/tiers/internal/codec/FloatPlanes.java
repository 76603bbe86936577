package dev.cairn.tiers.internal.codec;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * The float transform of the {@code planes*r+zstd} codecs: {@link BytePlanes} of the values with their sign bit
 * rotated to the bottom, and the top plane cut into its low and its high nibbles.
 *
 * <p>Why: rotating each value left by one bit moves the sign (random) to bit 0 and the exponent up against the top,
 * so the top byte of a value is its whole exponent (fp32, bf16), or its top 8 exponent bits (fp64), or 5 exponent and
 * 3 mantissa bits (fp16). That byte has 2.5 bits of entropy on N(0, 0.02) weights, which zstd's Huffman coder, one
 * byte a symbol, codes at 2.9 bits and slowly (300 MB/s, as it finds short matches everywhere). Packing the low
 * nibbles of two exponents into one byte gives it symbols of 5 bits of entropy, coded at 2.6 bits a value and at
 * 1 GB/s; the high nibbles are nearly constant and take almost nothing. The other planes hold mantissa bits, which
 * no entropy coder shrinks: the codec stores them raw.
 * <pre>
 * region of len bytes:  | body: len rounded down to 64 bytes                                    | tail (len % 64) |
 * split:                | plane 0 | ... | plane e-2 | low nibbles | high nibbles                 | tail, verbatim  |
 *   piece:                 0             e-2         e-1           e (with the tail)
 *   plane p (body/e bytes): byte p of every rotated value, ordered as {@link BytePlanes} orders plane p
 *   low / high nibbles (body/2e bytes each): byte k = nibble of byte 2k | nibble of byte 2k+1 &lt;&lt; 4, where
 *   byte j is byte j of the top plane (plane e-1) of the rotated values, in BytePlanes' order
 * rotation: value v of 8e bits becomes (v &lt;&lt; 1) | (v &gt;&gt;&gt; (8e - 1)), in its own lane of a long
 * </pre>
 * Word-level like {@link BytePlanes}: each 64-byte block is read as eight longs, rotated lane-wise with two shifts
 * and two masks, transposed, and written as longs (planes) or ints (nibbles: each top-plane row of 8 bytes packs into
 * an int of low nibbles and an int of high nibbles). Only the tail is copied as bytes.
 *
 * <p>Both buffers must be direct (the codec's zstd calls need that anyway). The kernels check the bounds of both
 * regions once, then read and write by address: through a {@code ByteBuffer} view {@code VarHandle} every access
 * paid a scope and index check that C2 did not hoist out of this loop, and the join ran at a third of the speed a
 * profile of restore later showed it could.
 */
public final class FloatPlanes {
    private static final long M32 = 0x00000000FFFFFFFFL;
    private static final long M16 = 0x0000FFFF0000FFFFL;
    private static final long M8 = 0x00FF00FF00FF00FFL;
    private static final long M4 = 0x0F0F0F0F0F0F0F0FL;

    private FloatPlanes() {
    }

    /** Whether {@code elementSize} is one this class splits: 2, 4 or 8. */
    public static boolean supports(int elementSize) {
        return BytePlanes.supports(elementSize);
    }

    /** Pieces of a split region: e-1 planes, the low and the high nibbles. */
    public static int pieces(int elementSize) {
        return elementSize + 1;
    }

    /** Where piece {@code p} of the split of {@code len} bytes starts, relative to the split's start. */
    public static int pieceOffset(int len, int elementSize, int p) {
        int plane = (len & ~63) / elementSize;
        return p < elementSize ? p * plane : (elementSize - 1) * plane + (plane >>> 1);
    }

    /** Length of piece {@code p} of the split of {@code len} bytes (the last holds the tail). */
    public static int pieceLength(int len, int elementSize, int p) {
        int plane = (len & ~63) / elementSize;
        if (p < elementSize - 1) {
            return plane;
        }
        return p == elementSize - 1 ? plane >>> 1 : (plane >>> 1) + (len & 63);
    }

    /** Writes the split of {@code src[srcOff, srcOff+len)} to {@code dst[dstOff, dstOff+len)}. */
    public static void split(ByteBuffer src, int srcOff, int len, int elementSize, ByteBuffer dst, int dstOff) {
        check(elementSize);
        long from = address(src, srcOff, len, false);
        long to = address(dst, dstOff, len, true);
        int body = len & ~63;
        int plane = body / elementSize;
        int shift = Integer.numberOfTrailingZeros(elementSize);
        int mask = elementSize - 1;
        int step = 64 / elementSize;
        long lane = laneLowBits(elementSize);
        int back = 8 * elementSize - 1;
        long nibbles = to + (long) (elementSize - 1) * plane;
        int half = plane >>> 1;
        for (int in = 0, at = 0; in < body; in += 64, at += step) {
            long s = from + in;
            long r0 = rotate(toLittle(MemoryUtil.getLong(s)), lane, back);
            long r1 = rotate(toLittle(MemoryUtil.getLong(s + 8)), lane, back);
            long r2 = rotate(toLittle(MemoryUtil.getLong(s + 16)), lane, back);
            long r3 = rotate(toLittle(MemoryUtil.getLong(s + 24)), lane, back);
            long r4 = rotate(toLittle(MemoryUtil.getLong(s + 32)), lane, back);
            long r5 = rotate(toLittle(MemoryUtil.getLong(s + 40)), lane, back);
            long r6 = rotate(toLittle(MemoryUtil.getLong(s + 48)), lane, back);
            long r7 = rotate(toLittle(MemoryUtil.getLong(s + 56)), lane, back);
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
            long base = to + at;
            long nib = nibbles + (at >>> 1);
            store(r0, 0, base, plane, shift, mask, nib, half);
            store(r1, 1, base, plane, shift, mask, nib, half);
            store(r2, 2, base, plane, shift, mask, nib, half);
            store(r3, 3, base, plane, shift, mask, nib, half);
            store(r4, 4, base, plane, shift, mask, nib, half);
            store(r5, 5, base, plane, shift, mask, nib, half);
            store(r6, 6, base, plane, shift, mask, nib, half);
            store(r7, 7, base, plane, shift, mask, nib, half);
        }
        copyTail(src, srcOff + body, dst, dstOff + body, len - body);
        Reference.reachabilityFence(src); // their memory must outlive the reads and writes by address above
        Reference.reachabilityFence(dst);
    }

    /** The inverse of {@link #split}: reads a split from {@code src} and writes the values to {@code dst}. */
    public static void join(ByteBuffer src, int srcOff, int len, int elementSize, ByteBuffer dst, int dstOff) {
        check(elementSize);
        long from = address(src, srcOff, len, false);
        long to = address(dst, dstOff, len, true);
        int body = len & ~63;
        int plane = body / elementSize;
        int shift = Integer.numberOfTrailingZeros(elementSize);
        int mask = elementSize - 1;
        int step = 64 / elementSize;
        long lane = laneLowBits(elementSize);
        int back = 8 * elementSize - 1;
        long nibbles = from + (long) (elementSize - 1) * plane;
        int half = plane >>> 1;
        for (int out = 0, at = 0; out < body; out += 64, at += step) {
            long base = from + at;
            long nib = nibbles + (at >>> 1);
            long r0 = load(0, base, plane, shift, mask, nib, half);
            long r1 = load(1, base, plane, shift, mask, nib, half);
            long r2 = load(2, base, plane, shift, mask, nib, half);
            long r3 = load(3, base, plane, shift, mask, nib, half);
            long r4 = load(4, base, plane, shift, mask, nib, half);
            long r5 = load(5, base, plane, shift, mask, nib, half);
            long r6 = load(6, base, plane, shift, mask, nib, half);
            long r7 = load(7, base, plane, shift, mask, nib, half);
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
            MemoryUtil.putLong(d, unrotate(r0, lane, back));
            MemoryUtil.putLong(d + 8, unrotate(r1, lane, back));
            MemoryUtil.putLong(d + 16, unrotate(r2, lane, back));
            MemoryUtil.putLong(d + 24, unrotate(r3, lane, back));
            MemoryUtil.putLong(d + 32, unrotate(r4, lane, back));
            MemoryUtil.putLong(d + 40, unrotate(r5, lane, back));
            MemoryUtil.putLong(d + 48, unrotate(r6, lane, back));
            MemoryUtil.putLong(d + 56, unrotate(r7, lane, back));
        }
        copyTail(src, srcOff + body, dst, dstOff + body, len - body);
        Reference.reachabilityFence(src);
        Reference.reachabilityFence(dst);
    }

    /** Bit 0 of every lane of {@code elementSize} bytes in a long. */
    private static long laneLowBits(int elementSize) {
        return elementSize == 2 ? 0x0001000100010001L : elementSize == 4 ? 0x0000000100000001L : 1L;
    }

    /** Rotates every lane left by one bit: {@code lane} marks bit 0 of each lane, {@code back} is the lane width - 1. */
    private static long rotate(long x, long lane, int back) {
        return ((x << 1) & ~lane) | ((x >>> back) & lane);
    }

    private static long unrotate(long x, long lane, int back) {
        long top = lane << back;
        return ((x >>> 1) & ~top) | ((x & lane) << back);
    }

    /** Row {@code r} of a block's transpose to its plane, or, when it belongs to the top plane, to the nibbles. */
    private static void store(long row, int r, long base, int plane, int shift, int mask, long nib, int half) {
        int p = r & mask;
        int k = r >>> shift;
        if (p != mask) {
            MemoryUtil.putLong(base + (long) p * plane + (k << 3), toLittle(row));
        } else {
            MemoryUtil.putInt(nib + (k << 2), toLittle(packNibbles(row)));
            MemoryUtil.putInt(nib + half + (k << 2), toLittle(packNibbles(row >>> 4)));
        }
    }

    private static long load(int r, long base, int plane, int shift, int mask, long nib, int half) {
        int p = r & mask;
        int k = r >>> shift;
        if (p != mask) {
            return toLittle(MemoryUtil.getLong(base + (long) p * plane + (k << 3)));
        }
        return unpackNibbles(toLittle(MemoryUtil.getInt(nib + (k << 2))))
                | unpackNibbles(toLittle(MemoryUtil.getInt(nib + half + (k << 2)))) << 4;
    }

    /**
     * The address of {@code buf[off]}, after checking that {@code buf} is direct, holds {@code [off, off+len)} and, when
     * the kernel {@code writes} there, is not read-only.
     */
    static long address(ByteBuffer buf, int off, int len, boolean writes) {
        if (!buf.isDirect()) {
            throw new IllegalArgumentException("plane kernels work on direct buffers");
        }
        if (off < 0 || len < 0 || off > buf.capacity() - len) {
            throw new IndexOutOfBoundsException("[" + off + ", " + off + " + " + len + ") outside a buffer of " + buf.capacity());
        }
        if (writes && buf.isReadOnly()) {
            throw new java.nio.ReadOnlyBufferException();
        }
        return BufferAddress.of(buf) + off;
    }

    /** A word read or written by address in the machine's order, as the little-endian word the format is defined in. */
    private static long toLittle(long x) {
        return MemoryUtil.LITTLE_ENDIAN ? x : Long.reverseBytes(x);
    }

    private static int toLittle(int x) {
        return MemoryUtil.LITTLE_ENDIAN ? x : Integer.reverseBytes(x);
    }

    /** The low nibbles of the 8 bytes of {@code x}, two a byte in order: byte k = nibble 2k | nibble 2k+1 &lt;&lt; 4. */
    static int packNibbles(long x) {
        long y = x & M4;
        y = (y | (y >>> 4)) & M8;
        y = (y | (y >>> 8)) & M16;
        return (int) (y | (y >>> 16));
    }

    /** The inverse of {@link #packNibbles}: 8 bytes, each holding one nibble in its low half. */
    static long unpackNibbles(int packed) {
        long y = packed & M32;
        y = (y | (y << 16)) & M16;
        y = (y | (y << 8)) & M8;
        return (y | (y << 4)) & M4;
    }

    private static void copyTail(ByteBuffer src, int srcOff, ByteBuffer dst, int dstOff, int n) {
        if (n > 0) {
            dst.put(dstOff, src, srcOff, n);
        }
    }

    private static void check(int elementSize) {
        if (!supports(elementSize)) {
            throw new IllegalArgumentException("float planes need an element size of 2, 4 or 8, not " + elementSize);
        }
    }
}
