package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointAdmin;
import dev.cairn.CheckpointAdmin.CopyReport;
import dev.cairn.CheckpointAdmin.StepCheck;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.StoreRef;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A step of one rank keeps its rows in its MANIFEST and beside it its rank index, which a copy onward takes
 * ({@code RankIndexes.verified}). Before, verify called such a step intact with its index lost (it checked only the
 * indexes the listing showed), and copying the step there again did not put the index back (it sent indexes again
 * only where the MANIFEST references them), so the step could not be copied onward and nothing said why.
 */
class MissingRankIndexTest {
    private static final String RUN = "noindex";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    @TempDir
    Path dir;

    private static TrainingState state() {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 30_000, 1)).blob("rng", new byte[] {4, 5}).build();
    }

    @Test
    void verifyReportsALostIndexOfAOneRankStepAndCopyingAgainPutsItBack() throws Exception {
        try (FileSystemObjectStore source = new FileSystemObjectStore(dir.resolve("s"));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", source).keepLast(10)).build())) {
            cp.save(5, state()).done().join();
        }
        try (FileSystemObjectStore source = new FileSystemObjectStore(dir.resolve("s"));
             FileSystemObjectStore target = new FileSystemObjectStore(dir.resolve("t"));
             FileSystemObjectStore onward = new FileSystemObjectStore(dir.resolve("o"))) {
            StoreRef src = new StoreRef("src", "s", source);
            StoreRef tref = new StoreRef("t", "t", target);
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(src))) {
                assertEquals(1, admin.copy(RUN, 5, tref, 1, CheckpointAdmin.Progress.NONE).indexesCopied());
            }
            Files.delete(dir.resolve("t").resolve(LAYOUT.indexKey(5, 0)));

            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(tref))) {
                StepCheck check = admin.verify(RUN, List.of(5L), CheckpointAdmin.Progress.NONE).get(0);
                assertFalse(check.intact(), "a lost index the MANIFEST expects: " + check);
                assertEquals(1, check.badIndexes().size(), check.toString());
                assertTrue(check.badIndexes().get(0).contains(LAYOUT.indexKey(5, 0))
                        && check.badIndexes().get(0).contains("missing"), check.badIndexes().get(0));
                assertTrue(check.badChunks().isEmpty(), check.toString());
            }

            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(src))) {
                CopyReport again = admin.copy(RUN, 5, tref, 1, CheckpointAdmin.Progress.NONE);
                assertTrue(again.alreadyCommitted());
                assertEquals(0, again.chunksCopied(), "every chunk is there, intact");
                assertEquals(1, again.indexesCopied(), "the lost index is sent again");
            }
            assertTrue(Files.exists(dir.resolve("t").resolve(LAYOUT.indexKey(5, 0))));
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(tref))) {
                assertTrue(admin.verify(RUN, List.of(5L), CheckpointAdmin.Progress.NONE).get(0).intact());
                CopyReport copied = admin.copy(RUN, 5, new StoreRef("o", "o", onward), 1, CheckpointAdmin.Progress.NONE);
                assertFalse(copied.alreadyCommitted());
            }
            try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", onward).keepLast(10)).build())) {
                assertSameState(state(), cp.restore(RestoreRequest.step(5)).state());
            }
        }
    }

    /** An index of another rank's rows (a damaged one) under the key is reported and replaced likewise. */
    @Test
    void anIndexThatIsNotTheMANIFESTsRowsIsReportedAndReplaced() throws Exception {
        try (FileSystemObjectStore source = new FileSystemObjectStore(dir.resolve("s"));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", source).keepLast(10)).build())) {
            cp.save(4, TrainingState.builder().add(randomTensor("w", DType.F32, 30_000, 9)).build()).done().join();
            cp.save(5, state()).done().join();
        }
        try (FileSystemObjectStore source = new FileSystemObjectStore(dir.resolve("s"));
             FileSystemObjectStore target = new FileSystemObjectStore(dir.resolve("t"))) {
            StoreRef src = new StoreRef("src", "s", source);
            StoreRef tref = new StoreRef("t", "t", target);
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(src))) {
                admin.copy(RUN, 5, tref, 1, CheckpointAdmin.Progress.NONE);
            }
            target.put(LAYOUT.indexKey(5, 0), source.readAll(LAYOUT.indexKey(4, 0)));
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(tref))) {
                assertFalse(admin.verify(RUN, List.of(5L), CheckpointAdmin.Progress.NONE).get(0).intact());
            }
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(src))) {
                assertEquals(1, admin.copy(RUN, 5, tref, 1, CheckpointAdmin.Progress.NONE).indexesCopied());
            }
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(tref))) {
                assertTrue(admin.verify(RUN, List.of(5L), CheckpointAdmin.Progress.NONE).get(0).intact());
            }
        }
    }
}
