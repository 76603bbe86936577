package dev.cairn.tiers.internal.codec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.DType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/**
 * Lossy mode's rounding, for every float dtype: each normal value moves by at most the stated relative bound, every
 * special value (NaN with its payload, infinities, zeros, -0.0, subnormals) and every value that would round to
 * infinity is kept bit for bit, a dtype with no more mantissa bits than asked is untouched, and rounding twice
 * changes nothing more.
 */
class MantissaRoundingProperties {
    static final DType[] FLOATS = {DType.F64, DType.F32, DType.F16, DType.BF16};

    @Property(tries = 400)
    void roundingKeepsToItsBoundAndKeepsSpecialValuesExactly(@ForAll @IntRange(min = 0, max = 3) int type,
                                                             @ForAll @IntRange(min = 1, max = 51) int bits,
                                                             @ForAll @IntRange(min = 0, max = 600) int count,
                                                             @ForAll @IntRange(min = 0, max = 9) int offset,
                                                             @ForAll long seed) {
        DType dtype = FLOATS[type];
        int w = dtype.byteSize();
        int mant = MantissaRounding.mantissaBitsOf(dtype);
        SplittableRandom random = new SplittableRandom(seed);
        ByteBuffer src = ByteBuffer.allocateDirect(offset + count * w).order(ByteOrder.LITTLE_ENDIAN);
        for (int v = 0; v < count; v++) {
            put(src, offset + v * w, w, value(random, w, mant));
        }
        ByteBuffer dst = ByteBuffer.allocateDirect(3 + count * w).order(ByteOrder.LITTLE_ENDIAN);
        MantissaRounding.round(dtype, bits, src, offset, count * w, dst, 3);
        double bound = MantissaRounding.errorBound(dtype, bits);
        assertEquals(bits >= mant ? 0.0 : Math.scalb(1.0, -(bits + 1)), bound, "the stated bound");
        int exponentBits = w * 8 - 1 - mant;
        long expAll = ((1L << exponentBits) - 1) << mant;
        for (int v = 0; v < count; v++) {
            long x = get(src, offset + v * w, w);
            long y = get(dst, 3 + v * w, w);
            long exponent = x & expAll;
            boolean special = exponent == 0 || exponent == expAll; // zeros, subnormals, infinities, NaN
            if (bits >= mant || special) {
                assertEquals(x, y, dtype + " value " + Long.toHexString(x) + " kept exactly");
                continue;
            }
            double a = toDouble(x, w, mant);
            double b = toDouble(y, w, mant);
            if ((y & expAll) == expAll) {
                throw new AssertionError(dtype + " " + a + " rounded to " + b);
            }
            assertTrue(Math.abs(b - a) <= bound * Math.abs(a), dtype + " " + a + " -> " + b + ", bound " + bound);
            if (y != x) { // else kept whole, as a value whose rounding would reach infinity is
                assertEquals(0, y & ((1L << (mant - bits)) - 1), dtype + " dropped mantissa bits are zero: "
                        + Long.toHexString(x) + " -> " + Long.toHexString(y));
            }
        }
        ByteBuffer again = ByteBuffer.allocateDirect(count * w).order(ByteOrder.LITTLE_ENDIAN);
        MantissaRounding.round(dtype, bits, dst, 3, count * w, again, 0);
        assertEquals(dst.slice(3, count * w), again.slice(0, count * w), "rounding is idempotent");
    }

    /** Mostly ordinary values of any exponent, near the top too; sometimes NaN with a payload, infinity, 0, -0, subnormal. */
    private static long value(SplittableRandom r, int w, int mant) {
        int exponentBits = w * 8 - 1 - mant;
        long expAll = ((1L << exponentBits) - 1) << mant;
        long sign = r.nextBoolean() ? 1L << (w * 8 - 1) : 0;
        long mantissa = r.nextLong() & ((1L << mant) - 1);
        switch (r.nextInt(12)) {
            case 0: return sign | expAll | (mantissa == 0 ? 1 : mantissa);
            case 1: return sign | expAll;
            case 2: return sign;
            case 3: return sign | (mantissa == 0 ? 1 : mantissa);
            case 4: return sign | (expAll - (1L << mant)) | ((1L << mant) - 1 - r.nextInt(4)); // largest finite values
            default:
                long exponent = 1 + (r.nextLong() & Long.MAX_VALUE) % ((1L << exponentBits) - 2);
                return sign | (exponent << mant) | mantissa;
        }
    }

    private static double toDouble(long bits, int w, int mant) {
        switch (w) {
            case 8: return Double.longBitsToDouble(bits);
            case 4: return Float.intBitsToFloat((int) bits);
            default:
                if (mant == 7) {
                    return Float.intBitsToFloat((int) (bits << 16)); // bf16: the top half of an f32
                }
                int sign = (int) (bits >>> 15) & 1;
                int exponent = (int) (bits >>> 10) & 0x1f;
                int fraction = (int) bits & 0x3ff;
                double magnitude = exponent == 0 ? Math.scalb((double) fraction, -24)
                        : Math.scalb(1 + fraction / 1024.0, exponent - 15);
                return sign == 1 ? -magnitude : magnitude;
        }
    }

    private static void put(ByteBuffer b, int at, int w, long bits) {
        switch (w) {
            case 8 -> b.putLong(at, bits);
            case 4 -> b.putInt(at, (int) bits);
            default -> b.putShort(at, (short) bits);
        }
    }

    private static long get(ByteBuffer b, int at, int w) {
        return switch (w) {
            case 8 -> b.getLong(at);
            case 4 -> b.getInt(at) & 0xffffffffL;
            default -> b.getShort(at) & 0xffffL;
        };
    }
}
