package dev.cairn.bench.jmh;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.SplittableRandom;

/** A direct buffer of fp32 values drawn from N(0, 0.02), the way freshly initialised weights look. */
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
}
