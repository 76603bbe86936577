package dev.cairn.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The warm-up's stopping rule on a clock and a compilation counter that the test moves (no real time involved). */
class JitQuietTest {
    private long now;
    private long jitMillis;

    private JitQuiet warmup(int min, int max, int window) {
        return new JitQuiet(min, max, window, () -> now, () -> jitMillis);
    }

    /** Runs steps of {@code stepMillis} wall, each compiling {@code jitPerStep} ms, until the warm-up ends. */
    private int run(JitQuiet w, long stepMillis, long jitPerStep) {
        boolean more = true;
        while (more) {
            now += stepMillis * 1_000_000;
            jitMillis += jitPerStep;
            more = w.stepDone();
        }
        return w.steps();
    }

    @Test
    void stopsAfterTwoQuietWindowsInARow() {
        JitQuiet w = warmup(50, 1000, 20);
        // 10 ms steps: a 2 s window is 200 steps; no compilation at all.
        assertEquals(400, run(w, 10, 0), "the second window ends after 4 s, past the minimum");
        assertTrue(w.quiet());
    }

    @Test
    void goesOnWhileTheJitCompilesMoreThanTwoPercentOfWallTime() {
        JitQuiet w = warmup(50, 100_000, 20);
        // 10 ms steps; 10 % of them compiling in the first 5 windows, 1 % in the sixth, 3 % in the seventh, then none.
        boolean more = true;
        while (more) {
            now += 10_000_000;
            int window = w.steps() / 200;
            jitMillis += window < 5 ? 1 : window == 5 && w.steps() % 10 == 0 ? 1 : window == 6 && w.steps() % 10 < 3 ? 1 : 0;
            more = w.stepDone();
        }
        assertEquals(1800, w.steps(), "a quiet window followed by a busy one does not count; two quiet ones in a row do");
        assertTrue(w.quiet());
    }

    @Test
    void endsAtTheCapWhenTheJitNeverFallsQuiet() {
        JitQuiet w = warmup(10, 500, 20);
        assertEquals(500, run(w, 10, 1), "10 % compilation forever");
        assertFalse(w.quiet(), "reported as stopped at the cap");
    }

    @Test
    void aWindowNeedsItsStepsAsWellAsItsTime() {
        JitQuiet w = warmup(1, 1000, 20);
        // 1 s steps: 2 s pass in 2 steps, but each window waits for 20; two quiet windows.
        assertEquals(40, run(w, 1000, 0));
    }

    @Test
    void aJvmWithoutCompilationTimeStopsAfterTwoWindows() {
        JitQuiet w = new JitQuiet(30, 1000, 1, () -> now, () -> -1);
        assertEquals(400, run(w, 10, 0), "two windows: quiet, since the counter never moves");
        assertThrows(IllegalArgumentException.class, () -> warmup(10, 5, 1));
    }
}
