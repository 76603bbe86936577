package dev.cairn.tiers.internal.codec;

import dev.cairn.DType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Lossy mode's only transformation: each float rounded to fewer mantissa bits, to nearest, ties to even, in the
 * bytes' own dtype (little-endian). The result is still a plain float of that dtype, so every codec and the content
 * hash apply to it unchanged. A normal value's relative error is at most 2<sup>-(bits+1)</sup>: zeros, -0.0,
 * subnormals (whose relative error could be anything), infinities and NaN (payload included) are kept exactly, and
 * so is a value whose rounding would carry into the all-ones exponent (it would become infinity).
 */
public final class MantissaRounding {
    private MantissaRounding() {
    }

    /** Mantissa bits of a float dtype; 0 for the rest (8-bit floats and integers are never rounded). */
    public static int mantissaBitsOf(DType dtype) {
        switch (dtype) {
            case F64: return 52;
            case F32: return 23;
            case F16: return 10;
            case BF16: return 7;
            default: return 0;
        }
    }

    /** The relative error bound rounding {@code dtype} to {@code bits} mantissa bits states; 0 when it is lossless. */
    public static double errorBound(DType dtype, int bits) {
        int m = mantissaBitsOf(dtype);
        return m == 0 || bits >= m ? 0 : Math.scalb(1.0, -(bits + 1));
    }

    /**
     * Writes {@code src[srcOff, srcOff+len)}, values of {@code dtype}, rounded to {@code bits} mantissa bits, into
     * {@code dst} at {@code dstOff}; a plain copy when {@link #errorBound} is 0 (nothing to round).
     */
    public static void round(DType dtype, int bits, ByteBuffer src, int srcOff, int len, ByteBuffer dst, int dstOff) {
        ByteBuffer in = src.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer out = dst.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int m = mantissaBitsOf(dtype);
        int drop = m - bits;
        if (m == 0 || drop <= 0) {
            out.put(dstOff, in, srcOff, len);
            return;
        }
        int width = dtype.byteSize();
        int exponentBits = width * 8 - 1 - m;
        long exponentMask = ((1L << exponentBits) - 1) << m;
        int i = 0;
        for (; i + width <= len; i += width) {
            long v = width == 8 ? in.getLong(srcOff + i) : width == 4 ? in.getInt(srcOff + i) & 0xFFFFFFFFL
                    : in.getShort(srcOff + i) & 0xFFFFL;
            long r = roundOne(v, drop, exponentMask);
            if (width == 8) {
                out.putLong(dstOff + i, r);
            } else if (width == 4) {
                out.putInt(dstOff + i, (int) r);
            } else {
                out.putShort(dstOff + i, (short) r);
            }
        }
        for (; i < len; i++) {
            out.put(dstOff + i, in.get(srcOff + i)); // a partial value at a chunk's end cannot be rounded
        }
    }

    private static long roundOne(long v, int drop, long exponentMask) {
        long exponent = v & exponentMask;
        if (exponent == 0 || exponent == exponentMask) {
            return v; // zero, subnormal, infinity, NaN
        }
        long lsb = (v >>> drop) & 1;
        long rounded = (v + ((1L << (drop - 1)) - 1) + lsb) & ~((1L << drop) - 1);
        // The sign bit cannot change: the carry stops at the exponent, which is not all ones before rounding.
        return (rounded & exponentMask) == exponentMask ? v : rounded;
    }
}
