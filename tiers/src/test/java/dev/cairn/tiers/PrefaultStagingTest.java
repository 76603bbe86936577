package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@code prefaultStaging}: staging is allocated (and touched) at open, in the background, rather than by the first
 * saves; saves beside it work, and close gives all of it back (Arrow's leak check would fail the close otherwise).
 */
class PrefaultStagingTest {
    private static final long STAGING = 16L << 20;

    private static TrainingState state(long step) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 300_000, 40 + step)).build();
    }

    @Test
    void stagingIsAllocatedAtOpenAndEverySaveStillWorks() throws Exception {
        try (MemoryObjectStore memory = new MemoryObjectStore(64L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("prefault").stagingBytes(STAGING).prefaultStaging(true)
                     .tier(TierConfig.of("memory", memory)).build())) {
            CairnCheckpointer engine = (CairnCheckpointer) cp;
            cp.save(1, state(1)).done().get(120, TimeUnit.SECONDS); // beside the prefault thread
            // Polled: the prefault runs on its own thread. 2 minutes only bounds a hang on a loaded machine.
            long until = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
            while (engine.stagingAllocatedBytes() < STAGING * 9 / 10 && System.nanoTime() < until) {
                Thread.sleep(10);
            }
            assertTrue(engine.stagingAllocatedBytes() >= STAGING * 9 / 10,
                    "staging allocated: " + engine.stagingAllocatedBytes() + " of " + STAGING);
            cp.save(2, state(2)).done().get(120, TimeUnit.SECONDS);
            assertSameState(state(2), cp.restore(RestoreRequest.latest()).state());
            assertSameState(state(1), cp.restore(RestoreRequest.step(1)).state());
        }
    }

    @Test
    void withoutItStagingGrowsOnlyAsSavesNeedIt() throws Exception {
        try (MemoryObjectStore memory = new MemoryObjectStore(64L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("lazy").stagingBytes(STAGING)
                     .tier(TierConfig.of("memory", memory)).build())) {
            assertEquals(0, ((CairnCheckpointer) cp).stagingAllocatedBytes());
            cp.save(1, state(1)).done().get(120, TimeUnit.SECONDS);
            assertTrue(((CairnCheckpointer) cp).stagingAllocatedBytes() < STAGING / 2, "only what one 1.2 MB save needed");
        }
    }
}
