package dev.cairn.bench.simulate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.cairn.testkit.SimulatedClock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * The simulation's turns: one rank runs at a time, and a round of ranks that ends hands nothing on after its caller
 * has started the next round. ScaleSimulationTest once hung in CI with a rank thread parked in its turn for ever: the
 * last rank of a round counted down before it passed the turn on, so the next round could start (and pass the turn
 * itself) before that late pass, which then handed out a second turn and lost a rank's wake-up.
 */
class RankTurnsTest {
    @Test
    void aThreadThatDoesNotHoldTheTurnCannotWaitWhileARankRuns() throws Exception {
        RankTurns turns = new RankTurns(new SimulatedClock());
        Throwable[] failures = new Throwable[1];
        Throwable[] seen = new Throwable[1];
        turns.runAll(1, 0, r -> seen[0] = CompletableFuture.supplyAsync(() -> {
            try {
                turns.pause(0); // a thread of no rank, while rank 0 holds the turn
                return null;
            } catch (Throwable t) {
                return t;
            }
        }).get(60, TimeUnit.SECONDS), failures);
        assertNull(failures[0]);
        assertInstanceOf(IllegalStateException.class, seen[0], "a second turn would let two ranks run at once");
        // The round left no stray turn behind: the next one runs.
        int[] ran = new int[1];
        turns.runAll(3, 0, r -> ran[0]++, failures);
        assertEquals(3, ran[0]);
    }

    /**
     * Rounds back to back, as the simulation runs a checkpoint's ranks and then the next checkpoint's, with busy
     * threads beside them so that a rank is often preempted between ending and passing its turn on. Before the fix
     * this hung; the deadline only bounds a hang (thousands of rounds take well under a second of CPU), it measures
     * nothing.
     */
    @Test
    void roundsBackToBackNeverLoseATurn() {
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> busy = new ArrayList<>();
        for (int i = 0; i < 2 * Runtime.getRuntime().availableProcessors(); i++) {
            Thread t = new Thread(() -> {
                long x = 0;
                while (!stop.get()) {
                    x += System.nanoTime() & 1;
                }
                if (x == 42) {
                    System.out.print(""); // keeps the loop from being removed
                }
            }, "busy-" + i);
            t.setDaemon(true);
            t.start();
            busy.add(t);
        }
        try {
            assertTimeoutPreemptively(Duration.ofMinutes(2), () -> {
                SimulatedClock clock = new SimulatedClock();
                RankTurns turns = new RankTurns(clock);
                for (int round = 0; round < 3000; round++) {
                    Throwable[] failures = new Throwable[4];
                    int[] ran = new int[1];
                    turns.runAll(4, round, r -> {
                        turns.pause(r);
                        ran[0]++;
                    }, failures);
                    for (Throwable f : failures) {
                        assertNull(f);
                    }
                    assertEquals(4, ran[0], "round " + round);
                }
            }, "a rank waited for its turn for ever");
        } finally {
            stop.set(true);
        }
    }
}
