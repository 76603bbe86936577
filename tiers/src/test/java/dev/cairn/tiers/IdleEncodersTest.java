package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * An idle checkpointer's encoder threads block until a chunk arrives, instead of waking on a timer: a checkpointer
 * stays open for a whole training run and mostly waits, and each timed wake-up is CPU taken from training (Disruptor's
 * sleeping strategy woke each encoder 5,000 times a second, 480 ms of CPU every 4 s on this machine). A thread that
 * waits on a timer is TIMED_WAITING; one blocked until signalled is WAITING.
 */
class IdleEncodersTest {
    @Test
    void encodersBlockWithoutATimerWhenIdle() throws Exception {
        ByteBuffer w = ByteBuffer.allocateDirect(3 << 20);
        CairnConfig config = CairnConfig.builder("idle").chunkBytes(1 << 20)
                .tier(TierConfig.of("memory", new MemoryObjectStore(64L << 20))).build();
        try (Checkpointer cp = Checkpointer.open(config)) {
            TrainingState state = TrainingState.builder().tensor("w", DType.F32, new long[] {w.capacity() / 4}, w).build();
            cp.save(1, state).done().get(5, TimeUnit.MINUTES); // generous: only a stuck engine takes this long
            List<Thread> ring = ringThreads();
            assertFalse(ring.isEmpty(), "no cairn-ring thread found");
            // Each must settle into an untimed wait once the save is done; polled, since a thread may still be
            // finishing its last event. The deadline only bounds a failure (a timed waiter never gets there).
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            for (Thread t : ring) {
                while (t.getState() != Thread.State.WAITING && System.nanoTime() < until) {
                    Thread.sleep(10);
                }
                assertEquals(Thread.State.WAITING, t.getState(), t.getName() + " waits on a timer while idle");
            }
            // And stays there: sampled 50 times, a timed waiter would show TIMED_WAITING or RUNNABLE.
            for (int i = 0; i < 50; i++) {
                for (Thread t : ring) {
                    assertEquals(Thread.State.WAITING, t.getState(), t.getName() + " woke while idle");
                }
                Thread.sleep(2);
            }
        }
    }

    private static List<Thread> ringThreads() {
        Map<Thread, StackTraceElement[]> all = Thread.getAllStackTraces();
        return all.keySet().stream().filter(t -> t.getName().startsWith("cairn-ring-") && t.isAlive()).toList();
    }
}
