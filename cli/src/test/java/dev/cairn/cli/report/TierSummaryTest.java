package dev.cairn.cli.report;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The interval arithmetic of the report: Young's formula, its floor, and the pace of a run. */
class TierSummaryTest {
    @Test
    void youngDalyIsTheSquareRootOfTwiceCostTimesMtbfAndNeverBelowTheCost() {
        // C = 10 s, MTBF = 6 h: sqrt(2 * 10 * 21600) = sqrt(432000) = 657.27 s
        assertEquals(657.27, TierSummary.youngDaly(10, 6 * 3600), 0.01);
        // A checkpoint that costs more than half the MTBF: the formula would go below C; C is the floor.
        assertEquals(100_000, TierSummary.youngDaly(100_000, 3600), 1e-9);
        assertEquals(0, TierSummary.youngDaly(0, 3600), "no commit measured, no recommendation");
    }

    @Test
    void thePaceIsTheMedianTimeBetweenSavesPerStep() {
        Instant t0 = Instant.parse("2026-12-06T00:00:00Z");
        List<RunRecording.Save> saves = List.of(save(t0, 1), save(t0.plusSeconds(2), 2), save(t0.plusSeconds(4), 3),
                save(t0.plusSeconds(30), 4), save(t0.plusSeconds(38), 8));
        // spacings per step: 2, 2, 26, 2 -> median 2
        assertEquals(2.0, TierSummary.secondsPerStep(saves), 1e-9);
    }

    private static RunRecording.Save save(Instant at, long step) {
        return new RunRecording.Save(at, "run", 0, step, Duration.ofMillis(5), 1000, List.of("memory"), 0, 1 << 20);
    }
}
