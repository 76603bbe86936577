package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointAdmin;
import dev.cairn.CheckpointAdmin.CopyReport;
import dev.cairn.CheckpointAdmin.StepCheck;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.StoreRef;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A target that holds chunks of the copied step already, in another stored form: its own step 1 stored {@code w}
 * compressed, the source stored the same content uncompressed. A content key holds one stored form per tier
 * ({@code ChunkForms}), which the target's committed steps (and a running job's catalog) record. Before, the copy sent
 * the source's form over the target's (its length differed from the row it copied), so a job running on the target
 * failed its next save with STORAGE ("stored in another form"), and step 1 recorded a form the target no longer held.
 */
class CopyIntoAnotherStoredFormTest {
    private static final String RUN = "forms";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    @TempDir
    Path dir;

    /** {@code w} compresses (the same few values again and again); {@code b} is random, one per seed. */
    static TrainingState state(long seed) {
        ByteBuffer w = ByteBuffer.allocateDirect(60_000 * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 60_000; i++) {
            w.putFloat(i % 7);
        }
        return TrainingState.builder().add(Tensor.of("w", DType.F32, new long[] {60_000}, w.flip()))
                .add(randomTensor("b", DType.F32, 1000, seed)).build();
    }

    private static Manifest manifest(ObjectStore store, long step) throws Exception {
        try (RootAllocator alloc = new RootAllocator()) {
            return ManifestFormat.read(store.readAll(LAYOUT.manifestKey(step)), "m", alloc);
        }
    }

    /** Step 2 in the source, uncompressed. */
    private void saveSource() throws Exception {
        try (FileSystemObjectStore source = new FileSystemObjectStore(dir.resolve("s"));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", source).uncompressed()
                     .keepLast(10)).build())) {
            cp.save(2, state(2)).done().join();
        }
    }

    private static Map<String, ByteBuffer> chunksOf(ObjectStore store, Manifest m) throws Exception {
        Map<String, ByteBuffer> out = new HashMap<>();
        for (ChunkRef c : m.entries().get(0).chunks()) {
            out.put(c.hash(), store.readAll(LAYOUT.chunkKey(c.hash())));
        }
        return out;
    }

    @Test
    void theCopyRecordsTheFormTheTargetHoldsAndLeavesItThere() throws Exception {
        saveSource();
        try (FileSystemObjectStore target = new FileSystemObjectStore(dir.resolve("t"));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", target).keepLast(10)).build())) {
            cp.save(1, state(1)).done().join();
        }
        try (FileSystemObjectStore target = new FileSystemObjectStore(dir.resolve("t"));
             FileSystemObjectStore source = new FileSystemObjectStore(dir.resolve("s"))) {
            Manifest one = manifest(target, 1);
            ChunkRef inTarget = one.entries().get(0).chunks().get(0);
            ChunkRef inSource = manifest(source, 2).entries().get(0).chunks().get(0);
            assertEquals(inTarget.hash(), inSource.hash());
            assertNotEquals(inTarget.storedLength(), inSource.storedLength(), "two forms of one content");
            Map<String, ByteBuffer> before = chunksOf(target, one);

            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("src", "s", source)))) {
                CopyReport r = admin.copy(RUN, 2, new StoreRef("target", "t", target), 2, CheckpointAdmin.Progress.NONE);
                assertEquals(one.entries().get(0).chunks().size(), r.chunksSkipped(), "w's chunks, held intact, are kept");
                assertEquals(1, r.chunksCopied(), "b's one chunk, new");
            }
            assertEquals(before, chunksOf(target, one), "nothing put over the chunks the target held");
            Manifest two = manifest(target, 2);
            for (ChunkRef c : two.entries().get(0).chunks()) {
                assertEquals(target.stat(LAYOUT.chunkKey(c.hash())).size(), c.storedLength(), "the form the target holds");
            }
            assertEquals(one.entries().get(0).chunks(), two.entries().get(0).chunks());
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("t", "t", target)))) {
                for (StepCheck check : admin.verify(RUN, List.of(1L, 2L), CheckpointAdmin.Progress.NONE)) {
                    assertTrue(check.intact(), check.toString());
                }
            }
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("src", "s", source)))) {
                CopyReport again = admin.copy(RUN, 2, new StoreRef("target", "t", target), 2, CheckpointAdmin.Progress.NONE);
                assertTrue(again.alreadyCommitted(), "the step committed with the target's forms is this one");
                assertEquals(0, again.chunksCopied());
            }
            // Its index lost there: a copy run again writes it again, with the target's forms, as the MANIFEST has them.
            target.delete(LAYOUT.indexKey(2, 0));
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("src", "s", source)))) {
                CopyReport repaired = admin.copy(RUN, 2, new StoreRef("target", "t", target), 2, CheckpointAdmin.Progress.NONE);
                assertTrue(repaired.alreadyCommitted());
                assertEquals(1, repaired.indexesCopied());
            }
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("t", "t", target)))) {
                assertTrue(admin.verify(RUN, List.of(2L), CheckpointAdmin.Progress.NONE).get(0).intact());
            }
            try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", target).keepLast(10)).build())) {
                assertSameState(state(1), cp.restore(RestoreRequest.step(1)).state());
                assertSameState(state(2), cp.restore(RestoreRequest.step(2)).state());
            }
        }
    }

    /** A job running on the target beside the copy: its next save reuses the chunks it knows in its own form. */
    @Test
    void aJobRunningOnTheTargetSavesOnAfterTheCopy() throws Exception {
        saveSource();
        try (FileSystemObjectStore target = new FileSystemObjectStore(dir.resolve("t"));
             FileSystemObjectStore source = new FileSystemObjectStore(dir.resolve("s"));
             Checkpointer job = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", target).keepLast(10)).build())) {
            job.save(1, state(1)).done().join();
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("src", "s", source)))) {
                assertFalse(admin.copy(RUN, 2, new StoreRef("target", "t", target), 2, CheckpointAdmin.Progress.NONE)
                        .alreadyCommitted());
            }
            job.save(3, state(3)).done().join();
            assertSameState(state(3), job.restore(RestoreRequest.step(3)).state());
            assertSameState(state(2), job.restore(RestoreRequest.step(2)).state());
        }
    }
}
