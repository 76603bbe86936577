package dev.cairn.bench.simulate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.testkit.SimulatedClock;
import dev.cairn.testkit.SimulatedObjectStore;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class S3ClientModelTest {

    /**
     * A burst that needs 4 simulated seconds of its prefix's rate: 40 readers start at once on a prefix that serves 10
     * reads a second. Six attempts (backoffs of at most 50 + 100 + 200 + 400 + 800 ms) give up on the readers past the
     * second or so they cover; retrying a SlowDown until the deadline serves every reader, as the S3 backend does.
     */
    @Test
    void aBurstLongerThanAFewBackoffsIsServedByRetryingSlowDownUntilTheDeadline() throws Exception {
        SimulatedClock clock = new SimulatedClock();
        SimulatedObjectStore sim = SimulatedObjectStore.builder().clock(clock).requestRates(3500, 10).build();
        S3ClientModel store = new S3ClientModel(sim);
        store.put("run/steps/7/MANIFEST", ByteBuffer.wrap(new byte[100]));
        long start = (clock.now() / 1_000_000_000L + 1) * 1_000_000_000L; // at a second's start: 10 reads a second from it
        long last = 0;
        for (int reader = 0; reader < 40; reader++) {
            clock.setNow(start); // every reader starts at once, as restoring ranks do
            ByteBuffer dst = ByteBuffer.allocate(100);
            assertEquals(100, store.read("run/steps/7/MANIFEST", 0, dst), "reader " + reader);
            last = Math.max(last, clock.now() - start);
        }
        assertEquals(0, store.gaveUp());
        assertTrue(store.retried() > 0 && sim.stats().totalSlowDowns() == store.retried(),
                store.retried() + " retries, " + sim.stats().totalSlowDowns() + " SlowDowns");
        // 40 reads at 10 a second: the last reader is served in the fourth second from the start or later.
        assertTrue(last >= 3_000_000_000L, "last reader served after " + last + " ns");
    }
}
