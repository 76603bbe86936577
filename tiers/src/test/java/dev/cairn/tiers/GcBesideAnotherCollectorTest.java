package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.CheckpointInfo;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.GcReport;
import dev.cairn.ObjectInfo;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.testkit.ForwardingObjectStore;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A collection that another collector overtakes: between this one's listing of the steps and its reading of their
 * manifests, the other (rank 0's background collection of a multi-rank run, or the command line's {@code gc}) retires
 * a step and deletes its MANIFEST. Found by RankChaosTest: rank 0's {@code gc()} failed with STORAGE ("w2/steps/1/MANIFEST:
 * not on peer 0 nor on any reachable peer") beside its own background collection. A manifest that is gone belongs
 * to a step someone else retired: this collection goes on without it (and lists again when a step it would retain is
 * gone), and deletes nothing it should keep.
 */
class GcBesideAnotherCollectorTest {
    private static final String RUN = "gcrace";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    @TempDir
    Path dir;

    private static TrainingState state(long step) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 40_000, step)).add(randomTensor("frozen", DType.F32, 20_000, 1))
                .build();
    }

    /** Deletes the MANIFEST of each of {@code steps} just before this process first reads it: another collector's work. */
    private static final class OvertakingCollector extends ForwardingObjectStore {
        private final Set<String> pending = ConcurrentHashMap.newKeySet();

        OvertakingCollector(FileSystemObjectStore delegate, long... steps) {
            super(delegate);
            for (long s : steps) {
                pending.add(LAYOUT.manifestKey(s));
            }
        }

        @Override
        public ObjectInfo stat(String key) throws IOException {
            overtake(key);
            return super.stat(key);
        }

        @Override
        public java.nio.ByteBuffer readAll(String key, long maxBytes) throws IOException {
            overtake(key);
            return super.readAll(key, maxBytes);
        }

        private void overtake(String key) throws IOException {
            if (pending.remove(key)) {
                delegate.delete(key);
            }
        }
    }

    private void saveSteps(long... steps) throws Exception {
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk).keepLast(10)).build())) {
            for (long s : steps) {
                cp.save(s, state(s)).done().get(120, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void aRetiredStepWhoseManifestAnotherCollectorDeletedIsSkipped() throws Exception {
        saveSteps(1, 2, 3);
        try (OvertakingCollector store = new OvertakingCollector(new FileSystemObjectStore(dir), 1);
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", store).keepLast(1)).build())) {
            List<GcReport> reports = cp.gc(false);
            assertEquals(List.of(2L), reports.get(0).stepsRetired(), "step 1 was retired by the other collector");
            assertEquals(List.of(3L), cp.list().stream().map(CheckpointInfo::step).toList());
            assertSameState(state(3), cp.restore(RestoreRequest.latest()).state());
        }
    }

    @Test
    void aRetainedStepWhoseManifestAnotherCollectorDeletedMakesTheCollectionListAgain() throws Exception {
        saveSteps(1, 2, 3);
        try (OvertakingCollector store = new OvertakingCollector(new FileSystemObjectStore(dir), 2);
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", store).keepLast(2)).build())) {
            cp.gc(false);
            // Listed again without step 2: 3 and 1 are the newest two now, and both keep every chunk they name.
            assertEquals(List.of(3L, 1L), cp.list().stream().map(CheckpointInfo::step).toList());
            assertSameState(state(3), cp.restore(RestoreRequest.latest()).state());
            assertSameState(state(1), cp.restore(RestoreRequest.step(1)).state());
        }
    }
}
