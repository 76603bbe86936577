package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.Blob;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.RestoreRequest;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Bad input fails with a clear reason before anything is written, and never touches what is committed. */
class BadInputTest {
    @TempDir
    Path dir;
    FileSystemObjectStore disk;
    final StoreLayout layout = new StoreLayout("run1");

    @BeforeEach
    void open() throws Exception {
        disk = new FileSystemObjectStore(dir);
    }

    private Checkpointer checkpointer() {
        return Checkpointer.open(smallConfig("run1").tier(TierConfig.of("disk", disk).keepLast(5)).build());
    }

    private static TrainingState state(long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 50_000, seed)).add(Blob.ofUtf8("pos", "step")).build();
    }

    private static CheckpointException expect(Reason reason, String mention, Executable call) {
        CheckpointException e = assertThrows(CheckpointException.class, call);
        assertEquals(reason, e.reason(), e.getMessage());
        assertTrue(e.getMessage().contains(mention), "message names '" + mention + "': " + e.getMessage());
        return e;
    }

    @Test
    void rejectsATensorWhoseBytesDoNotMatchItsShape() {
        expect(Reason.INVALID_INPUT, "'w'", () -> Tensor.of("w", DType.F32, new long[] {10, 10}, ByteBuffer.allocateDirect(399)));
        expect(Reason.INVALID_INPUT, "negative", () -> Tensor.of("w", DType.F32, new long[] {-1}, ByteBuffer.allocateDirect(0)));
    }

    @Test
    void rejectsDuplicateNames() {
        expect(Reason.INVALID_INPUT, "duplicate entry name 'w'", () -> TrainingState.builder()
                .add(randomTensor("w", DType.F32, 4, 1)).add(Blob.ofUtf8("w", "x")).build());
    }

    @ParameterizedTest
    @ValueSource(strings = {"a/../b", "..", "/abs", "ctl\u0001x", "tab\tx", "", "del\u007f"})
    void rejectsNamesThatCouldEscapeOrConfuse(String name) {
        CheckpointException e = assertThrows(CheckpointException.class, () -> Blob.ofUtf8(name, "x"));
        assertEquals(Reason.INVALID_INPUT, e.reason());
        assertThrows(CheckpointException.class, () -> Tensor.allocate(name, DType.U8, 1));
    }

    @Test
    void refusesToSaveAStepTwiceAndLeavesTheCommittedOneUntouched() throws Exception {
        try (Checkpointer cp = checkpointer()) {
            cp.save(1, state(1)).done().get(30, TimeUnit.SECONDS);
        }
        List<ObjectInfo> before = disk.list("");
        ByteBuffer manifest = disk.readAll(layout.manifestKey(1));
        try (Checkpointer cp = checkpointer()) {
            expect(Reason.CONFLICT, "step 1", () -> cp.save(1, state(2)));
            cp.save(2, state(2)).done().get(30, TimeUnit.SECONDS);
            expect(Reason.CONFLICT, "step 2", () -> cp.save(2, state(3)));
            expect(Reason.INVALID_INPUT, "negative", () -> cp.save(-1, state(3)));
        }
        assertEquals(manifest, disk.readAll(layout.manifestKey(1)));
        for (ObjectInfo o : before) {
            assertEquals(o.size(), disk.stat(o.key()).size(), o.key());
        }
    }

    @Test
    void restoreIntoAWrongSizeOrDtypeFailsBeforeTouchingTheTarget() throws Exception {
        try (Checkpointer cp = checkpointer()) {
            cp.save(1, state(1)).done().get(30, TimeUnit.SECONDS);
            Tensor small = randomTensor("w", DType.F32, 49_999, 7);
            Tensor otherType = randomTensor("w", DType.I32, 50_000, 7);
            for (Tensor t : List.of(small, otherType)) {
                ByteBuffer before = Fixtures.concat(t);
                expect(Reason.INVALID_INPUT, "'w'", () -> cp.restore(RestoreRequest.latest().into(TrainingState.builder().add(t).build())));
                assertEquals(before, Fixtures.concat(t), "target untouched");
            }
            expect(Reason.INVALID_INPUT, "'extra'", () -> cp.restore(RestoreRequest.latest().into(TrainingState.builder()
                    .add(randomTensor("w", DType.F32, 50_000, 1)).add(randomTensor("extra", DType.F32, 1, 1)).build())));
            expect(Reason.NOT_FOUND, "step 9", () -> cp.restore(RestoreRequest.step(9)));
        }
    }

    @Test
    void aReadOnlyRestoreTargetIsRefusedBeforeAnyTargetIsWritten() throws Exception {
        try (Checkpointer cp = checkpointer()) {
            cp.save(1, TrainingState.builder().add(randomTensor("a", DType.F32, 50_000, 1))
                    .add(randomTensor("b", DType.F32, 50_000, 2)).build()).done().get(30, TimeUnit.SECONDS);
            Tensor a = Tensor.of("a", DType.F32, new long[] {50_000}, ByteBuffer.allocateDirect(200_000));
            Tensor b = Tensor.of("b", DType.F32, new long[] {50_000}, ByteBuffer.allocateDirect(200_000).asReadOnlyBuffer());
            // Before: a chunk's write into 'b' failed as a tier fault, every tier was tried, and the restore ended
            // CORRUPT ("missing, unreadable or corrupt in every tier") with 'a' already overwritten.
            expect(Reason.INVALID_INPUT, "'b' is read-only",
                    () -> cp.restore(RestoreRequest.latest().into(TrainingState.builder().add(a).add(b).build())));
            assertEquals(ByteBuffer.allocateDirect(200_000), Fixtures.concat(a), "target 'a' untouched");
        }
    }

    @Test
    void refusesAStepCommittedInATierTheSaveDoesNotGoTo() throws Exception {
        // An earlier run saved steps 1-3 into both tiers (as persisting its newest step on shutdown also does); this
        // run restored step 1 with a fresh memory tier, and its disk tier takes every 10th step only. Its step 2 would
        // be a second commit of step 2 beside the disk's, which a restore of step 2 could take, or mix with this one.
        try (MemoryObjectStore old = new MemoryObjectStore(64L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("memory", old))
                     .tier(TierConfig.of("disk", disk).keepLast(5)).build())) {
            for (long s = 1; s <= 3; s++) {
                cp.save(s, state(s)).done().get(30, TimeUnit.SECONDS);
            }
        }
        ByteBuffer manifest = disk.readAll(layout.manifestKey(2));
        try (MemoryObjectStore fresh = new MemoryObjectStore(64L << 20);
             CairnCheckpointer cp = (CairnCheckpointer) Checkpointer.open(smallConfig("run1")
                     .tier(TierConfig.of("memory", fresh)).tier(TierConfig.of("disk", disk).everySteps(10).keepLast(5)).build())) {
            assertEquals(1, cp.restore(RestoreRequest.step(1)).step());
            assertEquals(List.of(-1L, 3L), cp.newestAtOpen()); // the check needs the disk's look at open answered
            expect(Reason.CONFLICT, "step 2 is already committed in tier disk", () -> cp.save(2, state(22)));
            cp.save(4, state(4)).done().get(30, TimeUnit.SECONDS); // after the disk's newest: goes on
        }
        assertEquals(manifest, disk.readAll(layout.manifestKey(2)));
    }

    @Test
    void refusesAManifestFromANewerFormat() throws Exception {
        try (Checkpointer cp = checkpointer()) {
            cp.save(1, state(1)).done().get(30, TimeUnit.SECONDS);
        }
        try (RootAllocator alloc = new RootAllocator()) {
            Manifest m = ManifestFormat.read(disk.readAll(layout.manifestKey(1)), "m", alloc);
            Manifest future = new Manifest(ManifestFormat.FORMAT_VERSION + 1, m.run(), 2, 1, 0, m.createdAt(), m.chunkBytes(), m.entries());
            // A later release marks its steps before their MANIFEST as this one does (StepMarks), or its readers
            // would not find them: here by hand, in the one group a single process reads.
            disk.put(layout.markKey(0, 2), ByteBuffer.allocate(0));
            disk.put(layout.manifestKey(2), ByteBuffer.wrap(ManifestFormat.write(future, "manifest", alloc)));
        }
        try (Checkpointer cp = checkpointer()) {
            expect(Reason.UNSUPPORTED_VERSION, "format version " + (ManifestFormat.FORMAT_VERSION + 1), () -> cp.restore(RestoreRequest.latest()));
        }
    }

    /**
     * A chunk stored with a codec of a later release: refused as a later format is, before the targets are written.
     * Before, every tier was tried for the chunk, then CORRUPT ("no older intact checkpoint"), with the targets written.
     */
    @Test
    void refusesAChunkOfAnUnknownCodecBeforeWritingTheTargets() throws Exception {
        try (Checkpointer cp = checkpointer()) {
            cp.save(1, state(1)).done().get(30, TimeUnit.SECONDS);
        }
        try (RootAllocator alloc = new RootAllocator()) {
            Manifest m = ManifestFormat.read(disk.readAll(layout.manifestKey(1)), "m", alloc);
            List<EntryRecord> entries = new java.util.ArrayList<>();
            for (EntryRecord e : m.entries()) {
                List<ChunkRef> chunks = new java.util.ArrayList<>(e.chunks());
                if (e.name().equals("w")) {
                    ChunkRef c = chunks.get(chunks.size() - 1); // the last: the chunks before it are read first
                    chunks.set(chunks.size() - 1, new ChunkRef(c.offset(), c.rawLength(), c.hash(), "future+zstd",
                            c.storedLength(), c.bases(), c.errorBound(), c.contentHash()));
                }
                entries.add(new EntryRecord(e.name(), e.tensor(), e.dtype(), e.shape(), e.globalShape(), e.shardOffsets(),
                        e.perRank(), e.byteSize(), e.rank(), chunks));
            }
            Manifest later = new Manifest(m.formatVersion(), m.contentHash(), m.run(), m.step(), m.worldSize(), m.rank(),
                    m.createdAt(), m.chunkBytes(), entries, m.indexed());
            disk.put(layout.manifestKey(1), ByteBuffer.wrap(ManifestFormat.write(later, "manifest", alloc)));
        }
        TrainingState targets = state(99);
        try (Checkpointer cp = checkpointer()) {
            expect(Reason.UNSUPPORTED_VERSION, "codec 'future+zstd'",
                    () -> cp.restore(RestoreRequest.latest().into(targets)));
        }
        assertSameState(state(99), targets);
    }

    @Test
    void aTruncatedOrGarbledManifestIsCorruptAndNamesTheNewestIntactStep() throws Exception {
        try (Checkpointer cp = checkpointer()) {
            for (long s = 1; s <= 3; s++) {
                cp.save(s, state(s)).done().get(30, TimeUnit.SECONDS);
            }
        }
        ByteBuffer good = disk.readAll(layout.manifestKey(3));
        byte[] truncated = new byte[good.remaining() / 2];
        good.duplicate().get(truncated);
        disk.put(layout.manifestKey(3), ByteBuffer.wrap(truncated));
        try (Checkpointer cp = checkpointer()) {
            expect(Reason.CORRUPT, "newest older intact checkpoint is step 2", () -> cp.restore(RestoreRequest.latest()));
        }
        // Flip one byte anywhere: the restore either refuses the manifest as CORRUPT or (when the byte was padding
        // that no reader looks at) returns exactly the saved state. Never anything else.
        int size = good.remaining();
        int corrupt = 0;
        for (int at = 0; at < size; at += Math.max(1, size / 64)) {
            byte[] garbled = new byte[size];
            good.duplicate().get(garbled);
            garbled[at] ^= 0x5a;
            disk.put(layout.manifestKey(3), ByteBuffer.wrap(garbled));
            try (Checkpointer cp = checkpointer()) {
                Fixtures.assertSameState(state(3), cp.restore(RestoreRequest.step(3)).state());
            } catch (CheckpointException e) {
                assertTrue(e.reason() == Reason.CORRUPT, "byte " + at + ": " + e.getMessage());
                corrupt++;
            }
        }
        assertTrue(corrupt > 16, "flipped bytes in the rows and schema are detected: " + corrupt);
    }
}
