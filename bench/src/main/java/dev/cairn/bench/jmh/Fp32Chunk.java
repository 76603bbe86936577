package dev.cairn.bench.jmh;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.util.SplittableRandom;

/**
 * A direct buffer of fp32 values drawn from N(0, 0.02), the way freshly initialised weights look, or of the same
 * values as bf16 (the top half of each fp32).
 */
final class Fp32Chunk {
    private Fp32Chunk() {
    }

    static ByteBuffer of(int bytes, long seed) {
        ByteBuffer buf = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
        FloatBuffer floats = buf.asFloatBuffer();
        SplittableRandom random = new SplittableRandom(seed);
        while (floats.hasRemaining()) {
            floats.put((float) (random.nextGaussian() * 0.02));
        }
        return buf;
    }

    /** The same values as {@link #of} would draw for {@code 2 * bytes}, each cut to its top 16 bits (bf16). */
    static ByteBuffer bf16(int bytes, long seed) {
        ByteBuffer buf = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
        ShortBuffer halves = buf.asShortBuffer();
        SplittableRandom random = new SplittableRandom(seed);
        while (halves.hasRemaining()) {
            halves.put((short) (Float.floatToRawIntBits((float) (random.nextGaussian() * 0.02)) >>> 16));
        }
        return buf;
    }
}
