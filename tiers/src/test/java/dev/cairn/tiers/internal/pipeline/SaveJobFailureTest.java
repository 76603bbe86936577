package dev.cairn.tiers.internal.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.cairn.DType;
import dev.cairn.SaveMode;
import dev.cairn.TrainingState;
import dev.cairn.tiers.internal.Tier;
import java.nio.ByteBuffer;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * A save fails for the first reason recorded, also when threads record theirs at once (the capture's fault and the
 * deadline, say): exactly one of them is the job's failure, and no later one replaces it. The contract of
 * {@code SaveJob.fail}; the old check-then-set, which let a racing reason replace the first, passed it too on the
 * 2-core machine this was written on (2,000 rounds of 4 threads): the race's window is a few instructions wide.
 */
class SaveJobFailureTest {
    private static final int THREADS = 4;
    private static final int ROUNDS = 2_000;

    @Test
    void racingFailuresKeepTheFirstOne() throws Exception {
        TrainingState state = TrainingState.builder()
                .tensor("w", DType.F32, new long[] {16}, ByteBuffer.allocateDirect(64)).build();
        for (int round = 0; round < ROUNDS; round++) {
            SaveJob job = new SaveJob(new SavePlan(round + 1, state, SaveMode.COPY, 1 << 20, 0, 1, null, 0), new Tier[0]);
            CyclicBarrier start = new CyclicBarrier(THREADS);
            AtomicInteger winners = new AtomicInteger();
            AtomicReference<Throwable> won = new AtomicReference<>();
            Thread[] threads = new Thread[THREADS];
            for (int k = 0; k < THREADS; k++) {
                Throwable mine = new IllegalStateException("reason " + k);
                threads[k] = new Thread(() -> {
                    try {
                        start.await();
                    } catch (Exception e) {
                        throw new AssertionError(e);
                    }
                    if (job.fail(mine)) {
                        winners.incrementAndGet();
                        won.set(mine);
                    }
                });
                threads[k].start();
            }
            for (Thread t : threads) {
                t.join();
            }
            assertEquals(1, winners.get(), "round " + round + ": exactly one reason is recorded");
            assertSame(won.get(), job.failure(), "round " + round + ": the recorded reason is the one that won");
            job.fail(new IllegalStateException("later"));
            assertSame(won.get(), job.failure(), "a later failure does not replace it");
        }
    }
}
