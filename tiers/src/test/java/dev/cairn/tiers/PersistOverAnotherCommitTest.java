package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.promote.PersistNewest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Persisting the newest step on shutdown ({@link PersistNewest}) into a slower tier that holds a commit of the same
 * step number already: the same commit (persisted before) is persisted; another one (an earlier run's, reached again
 * after a rewind to an older step) is not, and is said so, since a restore of that step from the slower tier would
 * get the earlier run's state.
 */
class PersistOverAnotherCommitTest {
    private static final String RUN = "rewind";

    @TempDir
    Path dir;

    private static TrainingState state(long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 20_000, seed)).build();
    }

    private static CairnCheckpointer open(CairnConfig.Builder config) {
        return (CairnCheckpointer) Checkpointer.open(config.build());
    }

    private static CairnConfig.Builder bothTiers(MemoryObjectStore memory, FileSystemObjectStore disk) {
        return smallConfig(RUN).tier(TierConfig.of("memory", memory)).tier(TierConfig.of("disk", disk).everySteps(5));
    }

    @Test
    void aSlowerTierHoldingAnotherCommitOfTheNewestStepIsNotCountedAsPersisted() throws Exception {
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             MemoryObjectStore earlier = new MemoryObjectStore(64L << 20);
             MemoryObjectStore rewound = new MemoryObjectStore(64L << 20)) {
            try (CairnCheckpointer cp = open(bothTiers(earlier, disk))) {
                for (long s = 1; s <= 7; s++) {
                    cp.save(s, state(s)).done().get(60, TimeUnit.SECONDS);
                }
                assertEquals(List.of("disk"), cp.persistNewest(Duration.ofSeconds(20)));
                PersistNewest.Outcome again = cp.persistNewestOutcome(Duration.ofSeconds(20));
                assertEquals(List.of(), again.persisted(), "step 7 is in the disk tier already");
                assertEquals(List.of(), again.anotherCommit(), "the disk tier's step 7 is this very commit, in its own"
                        + " stored forms");
            }
            // The run, rewound to step 5, reaches step 7 again with other state, held in memory alone so far.
            try (CairnCheckpointer cp = open(smallConfig(RUN).tier(TierConfig.of("memory", rewound)))) {
                cp.save(7, state(107)).done().get(60, TimeUnit.SECONDS);
            }
            try (CairnCheckpointer cp = open(bothTiers(rewound, disk))) {
                PersistNewest.Outcome o = cp.persistNewestOutcome(Duration.ofSeconds(20));
                assertEquals(List.of(), o.persisted());
                assertEquals(List.of("disk"), o.anotherCommit(), "the disk tier's step 7 is the earlier run's");
            }
        }
    }
}
