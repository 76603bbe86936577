package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A rank index the fastest tier lost (the peer tier, with the ranks that held it) is read from a slower tier that
 * holds the same checkpoint, and only from one: another save of the same step number kept there (an earlier run's)
 * would give the restore rows of two different states.
 */
class IndexFromAnotherTierTest {
    private static final long[] GLOBAL = {64, 300};
    private final StoreLayout layout = new StoreLayout("mix");

    /** Rank {@code r}'s rows of a tensor whose every value is {@code value}. */
    private static TrainingState state(int r, int world, float value) {
        ShardSpec s = ShardSpec.split(GLOBAL, 0, world, r);
        ByteBuffer w = ByteBuffer.allocateDirect((int) (s.lengths()[0] * GLOBAL[1] * 4)).order(ByteOrder.LITTLE_ENDIAN);
        while (w.hasRemaining()) {
            w.putFloat(value);
        }
        return TrainingState.builder().add(Tensor.sharded("w", DType.F32, s, w.flip())).build();
    }

    private static Checkpointer open(int rank, int world, MemoryObjectStore fast, MemoryObjectStore slow) {
        CairnConfig.Builder b = CairnConfig.builder("mix").tier(TierConfig.of("fast", fast).keepLast(3));
        if (slow != null) {
            b.tier(TierConfig.of("slow", slow).keepLast(3));
        }
        return Checkpointer.open(b.chunkBytes(4096).encoderThreads(1).stagingBytes(4L << 20)
                .deadline(Duration.ofSeconds(60)).gcGrace(Duration.ofMinutes(2)).rank(rank, world).build());
    }

    /** Saves {@code step} on two ranks into {@code fast} (and {@code slow}, when given), every tier committed. */
    private static void saveOnTwoRanks(long step, float value, MemoryObjectStore fast, MemoryObjectStore slow) throws Exception {
        List<Checkpointer> ranks = List.of(open(0, 2, fast, slow), open(1, 2, fast, slow));
        try {
            List<CheckpointHandle> handles = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                handles.add(ranks.get(r).save(step, state(r, 2, value)));
            }
            for (CheckpointHandle h : handles) {
                h.done().get(60, TimeUnit.SECONDS);
            }
        } finally {
            ranks.forEach(Checkpointer::close);
        }
    }

    /** Every value of the restored tensor, which must be one and the same. */
    private static float theOneValue(RestoreResult restored) {
        ByteBuffer b = restored.state().tensor("w").buffers().get(0).order(ByteOrder.LITTLE_ENDIAN);
        float first = b.getFloat(0);
        for (int i = 0; i < b.limit(); i += 4) {
            assertEquals(first, b.getFloat(i), "value at byte " + i + " of a step restored from tier " + restored.tier());
        }
        return first;
    }

    @Test
    void anIndexLostInTheFastTierIsReadFromASlowerTierHoldingTheSameCheckpoint() throws Exception {
        try (MemoryObjectStore fast = new MemoryObjectStore(256L << 20); MemoryObjectStore slow = new MemoryObjectStore(256L << 20)) {
            saveOnTwoRanks(3, 1.0f, fast, slow);
            fast.delete(layout.indexKey(3, 1));
            try (Checkpointer whole = open(0, 1, fast, slow)) {
                RestoreResult restored = whole.restore(RestoreRequest.latest());
                assertEquals(3, restored.step());
                // Planned from the fast tier, with rank 1's rows from the slow one: its MANIFEST commits the same
                // checkpoint (before, rank 0's commit in each tier stamped its own time, and no tier matched another).
                assertEquals("fast", restored.tier());
                assertEquals(1.0f, theOneValue(restored));
            }
        }
    }

    @Test
    void anIndexLostInTheFastTierIsNeverTakenFromAnotherCommitOfTheSameStep() throws Exception {
        try (MemoryObjectStore fast1 = new MemoryObjectStore(256L << 20); MemoryObjectStore fast2 = new MemoryObjectStore(256L << 20);
             MemoryObjectStore slow = new MemoryObjectStore(256L << 20)) {
            saveOnTwoRanks(3, 1.0f, fast1, slow); // an earlier run: step 3 in both tiers
            saveOnTwoRanks(3, 2.0f, fast2, null); // this run, opened without the slow tier: its own step 3
            fast2.delete(layout.indexKey(3, 1));
            try (Checkpointer whole = open(0, 1, fast2, slow)) {
                RestoreResult restored = whole.restore(RestoreRequest.latest());
                assertEquals(3, restored.step());
                // Before: rows 0-31 of this run (2.0) and rows 32-63 of the earlier one (1.0), reported as a restore
                // from the fast tier with the earlier run's chunks counted as repaired.
                assertEquals("slow", restored.tier());
                assertEquals(1.0f, theOneValue(restored));
            }
        }
    }
}
