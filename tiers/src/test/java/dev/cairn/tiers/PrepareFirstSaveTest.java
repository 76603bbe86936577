package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@code prepareFirstSave}: open returns with all of staging allocated and touched, and the save path run by
 * throwaway saves into a private store, once per JVM; nothing of it reaches the configuration's tiers, and saves and
 * restores afterwards are the usual ones.
 */
class PrepareFirstSaveTest {
    private static final long STAGING = 16L << 20;

    private static TrainingState state(long step) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 300_000, 70 + step)).build();
    }

    @Test
    void openTouchesStagingAndWritesNothingToItsTiers() throws Exception {
        try (MemoryObjectStore memory = new MemoryObjectStore(64L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("prepared").stagingBytes(STAGING).prepareFirstSave(true)
                     .tier(TierConfig.of("memory", memory)).build())) {
            CairnCheckpointer engine = (CairnCheckpointer) cp;
            // On the caller's thread: allocated when open returns, no polling.
            assertTrue(engine.stagingAllocatedBytes() >= STAGING * 9 / 10,
                    "staging allocated at open: " + engine.stagingAllocatedBytes() + " of " + STAGING);
            assertEquals(List.of(), memory.list(""), "the preparation's saves went to a store of its own");
            assertTrue(cp.list().isEmpty());
            cp.save(1, state(1)).done().get(120, TimeUnit.SECONDS);
            cp.save(2, state(2)).done().get(120, TimeUnit.SECONDS);
            assertSameState(state(2), cp.restore(RestoreRequest.latest()).state());
            assertSameState(state(1), cp.restore(RestoreRequest.step(1)).state());
            assertEquals(List.of(2L, 1L), cp.list().stream().map(d -> d.step()).toList());
        }
    }

    @Test
    void thePreparationsSavesCommitAndItsMemoryIsFreed() throws Exception {
        // Directly, not through runOnce (which ignores failures and runs once per JVM): every throwaway save must
        // commit (done() would throw otherwise) and its checkpointer's close checks Arrow's allocators for leaks.
        try (MemoryObjectStore memory = new MemoryObjectStore(1L << 20)) {
            FirstSavePreparation.run(smallConfig("direct").tier(TierConfig.of("memory", memory)).build());
            FirstSavePreparation.run(smallConfig("big-chunks").chunkBytes(64 << 20).encoderThreads(1)
                    .stagingBytes(CairnConfig.minimumStagingBytes(64 << 20, 1)).tier(TierConfig.of("memory", memory)).build());
            assertEquals(List.of(), memory.list(""));
        }
    }

    @Test
    void itRunsOncePerJvm() throws Exception {
        try (MemoryObjectStore memory = new MemoryObjectStore(1L << 20)) {
            CairnConfig config = smallConfig("once").tier(TierConfig.of("memory", memory)).build();
            FirstSavePreparation.runOnce(config); // true, or false where another test's open ran it first
            assertFalse(FirstSavePreparation.runOnce(config));
        }
    }
}
