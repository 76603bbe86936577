package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;

import org.junit.jupiter.api.Test;

/**
 * The warm-up ignores its own failures ({@link Warmup#run}), so a mistake in it shows only as cold restores: from
 * 7badce2 a hash of a range past the end of its sample threw in the first lines, and every replacement since restored
 * with nothing warmed (its JVM loaded ~1,300 classes, Jackson and Arrow's among them, inside the first restore).
 */
class WarmupTest {
    @Test
    void runsToItsEnd() {
        assertDoesNotThrow(() -> new Warmup().warm());
    }
}
