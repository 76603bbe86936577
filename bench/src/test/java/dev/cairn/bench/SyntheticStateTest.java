package dev.cairn.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.tiers.Kernels;
import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

class SyntheticStateTest {
    private static final int CHUNK = 4 << 20;

    @Test
    void cutsAGibibyteIntoTensorsOf256128And64MiB() {
        List<Long> sizes = SyntheticState.sizes(1L << 30);
        assertEquals(List.of(256L << 20, 128L << 20, 64L << 20, 256L << 20, 128L << 20, 64L << 20, 128L << 20), sizes);
        assertEquals(1L << 30, sizes.stream().mapToLong(Long::longValue).sum());
    }

    @Test
    void valuesLookLikeWeightsDrawnFromNormalWithStd002() {
        SyntheticState s = SyntheticState.generate(2L * CHUNK, CHUNK, 1);
        ByteBuffer b = s.buffers().get(0);
        double sum = 0;
        double squares = 0;
        int n = b.capacity() / 4;
        for (int i = 0; i < n; i++) {
            double v = b.getFloat(4 * i);
            sum += v;
            squares += v * v;
        }
        double mean = sum / n;
        double std = Math.sqrt(squares / n - mean * mean);
        assertTrue(Math.abs(mean) < 1e-3, "mean " + mean);
        assertTrue(Math.abs(std - 0.02) < 0.0005, "std " + std);
        assertEquals(2L * CHUNK, s.state().byteSize());
    }

    @Test
    void perturbChangesEveryChunkAndZeroThenRestoreIsDetectedByCrc() {
        SyntheticState s = SyntheticState.generate(3L * CHUNK, CHUNK, 7);
        ByteBuffer b = s.buffers().get(0);
        String[] before = new String[3];
        for (int c = 0; c < 3; c++) {
            before[c] = Kernels.Hash.current().hasher().hex(b, c * CHUNK, CHUNK);
        }
        long crc = s.crc32c();
        s.perturb(1);
        for (int c = 0; c < 3; c++) {
            assertNotEquals(before[c], Kernels.Hash.current().hasher().hex(b, c * CHUNK, CHUNK), "chunk " + c);
        }
        assertNotEquals(crc, s.crc32c());
        s.zero();
        assertEquals(0f, b.getFloat(CHUNK + 4));
    }
}
