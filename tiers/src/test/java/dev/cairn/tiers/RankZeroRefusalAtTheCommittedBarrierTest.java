package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.GatheringCoordinator;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * With a coordinator that gathers, rank 0 refuses step 1 before it tries the MANIFEST (the ranks' slices leave a gap:
 * INVALID_INPUT). Before, it passed an empty token at "committed", as after a create of unknown outcome, and rank 1
 * polled the store for a MANIFEST that could not come until its whole deadline (rank 0 failed at 1.6 s, rank 1 with
 * TIMEOUT at 21.3 s). Now rank 0 passes its refusal, and rank 1, of the same gathering, fails at once with its reason.
 */
class RankZeroRefusalAtTheCommittedBarrierTest {
    private static final long[] SHAPE = {30, 300};
    private static final Duration DEADLINE = Duration.ofSeconds(20);

    @Test
    void aRankLearnsRankZerosRefusalBeforeItsDeadline() throws Exception {
        byte[] g = new byte[30 * 300 * 4];
        new Random(1).nextBytes(g);
        GatheringCoordinator barrier = new GatheringCoordinator();
        try (MemoryObjectStore store = new MemoryObjectStore(256L << 20)) {
            List<Checkpointer> cps = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                cps.add(Checkpointer.open(CairnConfig.builder("review").tier(TierConfig.of("mem", store).keepLast(2))
                        .chunkBytes(64 << 10).encoderThreads(1).stagingBytes(4L << 20).deadline(DEADLINE)
                        .rank(r, 2).coordinator(barrier).build()));
            }
            try {
                List<CheckpointHandle> hs = new ArrayList<>();
                long start = System.nanoTime();
                for (int r = 0; r < 2; r++) {
                    ShardSpec s = ShardSpec.split(SHAPE, 0, 3, r == 0 ? 0 : 2); // rows 10-19 missing: refused
                    hs.add(cps.get(r).save(1, TrainingState.builder().add(Tensor.sharded("w", DType.F32, s,
                            ReshardingProperties.slice(g, SHAPE, s, 4))).build()));
                }
                ExecutionException zero = assertThrows(ExecutionException.class, () -> hs.get(0).done().get(60, TimeUnit.SECONDS));
                assertEquals(Reason.INVALID_INPUT, assertInstanceOf(CheckpointException.class, zero.getCause()).reason());
                long zeroMillis = (System.nanoTime() - start) / 1_000_000;
                ExecutionException one = assertThrows(ExecutionException.class, () -> hs.get(1).done().get(60, TimeUnit.SECONDS));
                long oneMillis = (System.nanoTime() - start) / 1_000_000;
                CheckpointException c = assertInstanceOf(CheckpointException.class, one.getCause());
                assertTrue(oneMillis < DEADLINE.toMillis() / 2, "rank 0 failed after " + zeroMillis + " ms; rank 1 learned it only after "
                        + oneMillis + " ms, with " + c.reason() + ": " + c.getMessage());
                assertEquals(Reason.INVALID_INPUT, c.reason(), c.getMessage());
                assertTrue(c.getMessage().contains("rank 0 refused"), c.getMessage());
            } finally {
                cps.forEach(Checkpointer::close);
            }
        }
    }
}
