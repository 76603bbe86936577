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
    void stopsAtTheMinimumWhenTheFirstFullWindowIsQuiet() {
        JitQuiet w = warmup(50, 1000, 20);
        // 10 ms steps: a 2 s window is 200 steps; no compilation at all.
        assertEquals(200, run(w, 10, 0), "the first window ends after 2 s, past the minimum");
        assertTrue(w.quiet());
    }

    @Test
    void goesOnWhileTheJitCompilesMoreThanOnePercentOfWallTime() {
        JitQuiet w = warmup(50, 100_000, 20);
        // 2 % of each 10 ms step compiling for the first 1,000 steps (5 windows), nothing afterwards.
        boolean more = true;
        while (more) {
            now += 10_000_000;
            jitMillis += w.steps() < 1000 ? 1 : 0; // 1 ms of 10: 10 %
            more = w.stepDone();
        }
        assertEquals(1200, w.steps(), "five busy windows, then the first quiet one");
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
        // 1 s steps: 2 s pass in 2 steps, but the window waits for 20.
        assertEquals(20, run(w, 1000, 0));
    }

    @Test
    void aJvmWithoutCompilationTimeStopsAfterItsFirstWindow() {
        JitQuiet w = new JitQuiet(30, 1000, 1, () -> now, () -> -1);
        assertEquals(200, run(w, 10, 0), "first window at 2 s: quiet, since the counter never moves");
        assertThrows(IllegalArgumentException.class, () -> warmup(10, 5, 1));
    }
}
