package dev.cairn.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class SimulatedClockTest {

    @Test
    void eachThreadKeepsItsOwnTimeAndADriverMayMoveItEitherWay() throws Exception {
        SimulatedClock clock = new SimulatedClock(Instant.EPOCH);
        assertEquals(0, clock.now());
        clock.advance(500);
        clock.advanceTo(300);
        assertEquals(500, clock.now(), "advanceTo never goes back");
        clock.advanceTo(900);
        assertEquals(900, clock.now());
        clock.setNow(100);
        assertEquals(100, clock.now(), "setNow does, for a driver playing another caller");
        assertEquals(900, clock.latest());

        long other = CompletableFuture.supplyAsync(() -> {
            clock.advance(50);
            return clock.now();
        }).get(30, TimeUnit.SECONDS);
        assertEquals(50, other, "another thread starts at 0");
        assertEquals(100, clock.now());
    }

    @Test
    void theFloorLiftsEveryThreadAndNeverGoesDown() throws Exception {
        SimulatedClock clock = new SimulatedClock(Instant.EPOCH);
        clock.setNow(2_000);
        clock.raiseFloor(1_000);
        clock.raiseFloor(500);
        assertEquals(1_000, clock.floor());
        assertEquals(2_000, clock.now(), "a thread ahead of the floor stays ahead");
        clock.setNow(10);
        assertEquals(1_000, clock.now());
        assertEquals(1_000, CompletableFuture.supplyAsync(clock::now).get(30, TimeUnit.SECONDS).longValue());
        clock.advance(5);
        assertEquals(1_005, clock.now());
    }

    @Test
    void simulatedTimeMapsToInstantsFromTheEpochAndNeverRunsBelowZero() {
        SimulatedClock clock = new SimulatedClock(Instant.parse("2026-03-01T00:00:00Z"));
        assertEquals(Instant.parse("2026-03-01T00:00:01.5Z"), clock.toInstant(1_500_000_000L));
        assertThrows(IllegalArgumentException.class, () -> clock.setNow(-1));
        assertThrows(IllegalArgumentException.class, () -> clock.advance(-1));
        assertThrows(IllegalArgumentException.class, () -> clock.raiseFloor(-1));
    }
}
