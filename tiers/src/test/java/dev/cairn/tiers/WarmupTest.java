package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.tiers.internal.codec.Codec;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The warm-up ignores its own failures ({@link Warmup#run}), so a mistake in it shows only as cold restores: from
 * 7badce2 a hash of a range past the end of its sample threw in the first lines, and every replacement since restored
 * with nothing warmed (its JVM loaded ~1,300 classes, Jackson and Arrow's among them, inside the first restore).
 */
class WarmupTest {
    /** HotSpot's Tier4InvocationThreshold: calls at which the tiered policy compiles a method's entry with C2. */
    private static final int TIER4_INVOCATIONS = 5000;

    @Test
    void runsToItsEnd() {
        assertDoesNotThrow(() -> new Warmup().warm());
    }

    /**
     * The restore path (a chunk's decode, then its hash) is called often enough that C2 compiles the methods' entries,
     * not only their loops on-stack (see {@link Warmup#PIECE_BYTES}), and through the float-plane codec an fp32
     * chunk is stored in (FloatPlanes.join), not byte planes, plain zstd or raw blocks, which would leave that join cold.
     */
    @Test
    void callsTheRestorePathOftenEnoughForC2() throws Exception {
        Warmup.Coverage c = new Warmup().warm();
        assertTrue(c.pieceDecodes() >= TIER4_INVOCATIONS, "decodes of pieces: " + c.pieceDecodes());
        assertEquals(Set.of(Codec.PLANES4R), c.pieceCodecs(), "the FloatPlanes split of fp32, as the restore of fp32 weights decodes");
    }
}
