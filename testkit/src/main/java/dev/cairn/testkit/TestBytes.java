package dev.cairn.testkit;

import java.nio.ByteBuffer;
import java.util.SplittableRandom;

/** Byte arrays for tests: seeded random contents, and a buffer's remaining bytes copied out without moving it. */
public final class TestBytes {
    private TestBytes() {
    }

    /** {@code n} bytes drawn from {@code random}. */
    public static byte[] random(SplittableRandom random, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) random.nextInt(256);
        }
        return b;
    }

    /** The remaining bytes of {@code buffer}; its position is left as it was. */
    public static byte[] remaining(ByteBuffer buffer) {
        byte[] b = new byte[buffer.remaining()];
        buffer.duplicate().get(b);
        return b;
    }
}
