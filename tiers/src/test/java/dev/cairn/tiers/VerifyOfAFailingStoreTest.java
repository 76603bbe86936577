package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointAdmin;
import dev.cairn.CheckpointAdmin.StepCheck;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.StoreRef;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.testkit.ReadErrorStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A MANIFEST or rank index the store fails to read (a disk's EIO, an S3 503 after its retries) says nothing of what the
 * store holds: verify reports it as unreadable, not as damage, so the command line exits "not fully checked" rather
 * than "missing or corrupt". A missing or malformed one stays damage.
 */
class VerifyOfAFailingStoreTest {
    private static final String RUN = "failing";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    @TempDir
    Path dir;

    @Test
    void aManifestOrIndexTheStoreFailsToReadIsUnreadableNotDamaged() throws Exception {
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk).keepLast(10)).build())) {
            cp.save(5, TrainingState.builder().add(randomTensor("w", DType.F32, 30_000, 1)).build()).done().join();
        }
        StepCheck intact = check(key -> false);
        assertTrue(intact.intact() && !intact.damaged(), intact.toString());

        StepCheck manifest = check(LAYOUT.manifestKey(5)::equals);
        assertFalse(manifest.intact(), manifest.toString());
        assertTrue(manifest.manifestUnreadable(), manifest.toString());
        assertTrue(manifest.manifestProblem().contains(ReadErrorStore.EIO), manifest.toString());
        assertFalse(manifest.damaged(), "a read the store failed is no finding: " + manifest);

        StepCheck index = check(LAYOUT.indexKey(5, 0)::equals);
        assertFalse(index.intact(), index.toString());
        assertFalse(index.damaged(), "a read the store failed is no finding: " + index);
        assertEquals(1, index.unreadableIndexes().size(), index.toString());
        assertTrue(index.unreadableIndexes().get(0).contains(LAYOUT.indexKey(5, 0))
                && index.unreadableIndexes().get(0).contains(ReadErrorStore.EIO), index.toString());
        assertTrue(index.badIndexes().isEmpty() && index.badChunks().isEmpty(), index.toString());

        Files.write(dir.resolve(LAYOUT.indexKey(5, 0)), new byte[] {1, 2, 3}); // malformed: damage
        StepCheck bad = check(key -> false);
        assertTrue(bad.damaged(), bad.toString());
        assertEquals(1, bad.badIndexes().size(), bad.toString());
        assertTrue(bad.unreadableIndexes().isEmpty(), bad.toString());

        Files.delete(dir.resolve(LAYOUT.manifestKey(5)));
        Files.write(dir.resolve(LAYOUT.manifestKey(5)), new byte[] {1, 2, 3}); // a malformed MANIFEST: damage
        StepCheck badManifest = check(key -> false);
        assertTrue(badManifest.damaged() && !badManifest.manifestUnreadable(), badManifest.toString());
    }

    /**
     * Step 5 verified with reads of the keys {@code failing} accepts failing as on a bad disk, by an admin of its own
     * (one that read the MANIFEST before would not read it again).
     */
    private StepCheck check(java.util.function.Predicate<String> failing) throws Exception {
        ReadErrorStore store = new ReadErrorStore(new FileSystemObjectStore(dir)).failReadsOf(failing);
        try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("disk", "disk", store)))) {
            List<StepCheck> checks = admin.verify(RUN, List.of(5L), CheckpointAdmin.Progress.NONE);
            assertEquals(1, checks.size(), checks.toString());
            return checks.get(0);
        }
    }
}
