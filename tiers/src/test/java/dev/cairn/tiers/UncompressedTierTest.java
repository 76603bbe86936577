package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointAdmin;
import dev.cairn.CheckpointAdmin.StepCheck;
import dev.cairn.Checkpointer;
import dev.cairn.CommitReport;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.SaveMode;
import dev.cairn.StoreRef;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.codec.Codec;
import dev.cairn.tiers.internal.codec.StoredChunkHeader;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tier that keeps chunks uncompressed ({@link TierConfig#uncompressed()}, and a memory tier that sets no level):
 * every chunk hashed, looked up and stored raw, never compressed nor differential; promotion from it encodes each chunk
 * for a compressed tier.
 */
class UncompressedTierTest {
    private static final int CHUNK = 64 << 10;
    @TempDir
    Path dir;
    final StoreLayout layout = new StoreLayout("run1");

    /** Weights of the kind training holds (N(0, 0.02)): their float planes compress, whole chunks barely. */
    private static Tensor weights(String name, int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        ByteBuffer b = ByteBuffer.allocateDirect(n * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            double u = r.nextDouble(), v = r.nextDouble();
            b.putFloat(i * 4, (float) (0.02 * Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * v)));
        }
        return Tensor.of(name, DType.F32, new long[] {n}, b);
    }

    /** Words from a small vocabulary: any zstd level compresses them several times. */
    private static Tensor text(String name, int bytes) {
        byte[] t = Fixtures.wordText(bytes, 3);
        return Tensor.of(name, DType.U8, new long[] {t.length}, ByteBuffer.allocateDirect(t.length).put(t).flip());
    }

    private static TrainingState state() {
        return TrainingState.builder().add(weights("w", 100_000, 1)).add(text("t", 200_000)).build();
    }

    private Manifest manifest(ObjectStore store, long step) throws Exception {
        try (RootAllocator alloc = new RootAllocator()) {
            return ManifestFormat.read(store.readAll(layout.manifestKey(step)), "m", alloc);
        }
    }

    /** Asserts every chunk of {@code step} is recorded and stored raw in {@code store}, with its raw frame's length. */
    private void assertAllRaw(ObjectStore store, long step) throws Exception {
        int chunks = 0;
        for (EntryRecord e : manifest(store, step).entries()) {
            for (ChunkRef c : e.chunks()) {
                assertEquals(Codec.RAW.manifestName(), c.codec(), e.name() + " @" + c.offset());
                assertTrue(c.bases().isEmpty(), "stored whole: " + c.bases());
                ByteBuffer stored = store.readAll(layout.chunkKey(c.hash()));
                assertEquals(Codec.RAW, StoredChunkHeader.codecOf(stored, 0, stored.remaining()), c.hash());
                long blocks = Math.max(1, (c.rawLength() + (128 << 10) - 1) / (128 << 10));
                assertEquals(StoredChunkHeader.LENGTH + 13 + 3 * blocks + c.rawLength(), stored.remaining(),
                        "the raw bytes in one frame of raw blocks");
                assertEquals(stored.remaining(), c.storedLength());
                chunks++;
            }
        }
        assertTrue(chunks > 5, "chunks checked: " + chunks);
    }

    @Test
    void theTierApiSaysWhichTiersAreUncompressed() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(1 << 20); FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            assertTrue(TierConfig.of("m", mem).isUncompressed(), "a memory tier that sets no level");
            assertFalse(TierConfig.of("m", mem).compressionLevel(1).isUncompressed(), "a memory tier with a level compresses");
            assertFalse(TierConfig.of("d", disk).isUncompressed());
            TierConfig plain = TierConfig.of("d", disk).compressionLevel(3).uncompressed();
            assertTrue(plain.isUncompressed());
            assertEquals(OptionalInt.empty(), plain.compressionLevel());
            assertFalse(plain.compressionLevel(3).isUncompressed(), "the last setting wins");
            assertTrue(plain.toString().contains("uncompressed"), plain.toString());
        }
    }

    @Test
    void aSaveIntoAnUncompressedTierStoresRawChunksThatRestoreBitExact() throws Exception {
        for (SaveMode mode : SaveMode.values()) {
            try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
                 FileSystemObjectStore disk = new FileSystemObjectStore(dir.resolve(mode.name()));
                 Checkpointer inMemory = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("memory", mem)).build());
                 Checkpointer onDisk = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("disk", disk).uncompressed()).build())) {
                inMemory.save(1, state(), mode).done().get(30, TimeUnit.SECONDS);
                onDisk.save(1, state(), mode).done().get(30, TimeUnit.SECONDS);
                assertAllRaw(mem, 1);
                assertAllRaw(disk, 1);
                assertSameState(state(), inMemory.restore(RestoreRequest.latest()).state());
                assertSameState(state(), onDisk.restore(RestoreRequest.latest()).state());
            }
        }
        // The same state in a tier that compresses is not stored raw: the check above is not vacuous.
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("memory", mem).compressionLevel(1)).build())) {
            cp.save(1, state()).done().get(30, TimeUnit.SECONDS);
            for (EntryRecord e : manifest(mem, 1).entries()) {
                for (ChunkRef c : e.chunks()) {
                    assertNotEquals(Codec.RAW.manifestName(), c.codec(), e.name() + " @" + c.offset());
                }
            }
        }
    }

    @Test
    void aChangedChunkIsStoredWholeAndAnUnchangedOneIsNotWrittenAgain() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("memory", mem).keepLast(3)).build())) {
            TrainingState s = state();
            List<CommitReport> first = cp.save(1, s).done().get(30, TimeUnit.SECONDS);
            assertEquals(first.get(0).chunks(), first.get(0).chunksWritten());
            // A few values of the first chunk change, as a sparse update would: a compressing first tier stores that
            // chunk as its difference to step 1; this one stores it whole, and nothing else again.
            ByteBuffer w = s.tensor("w").buffers().get(0).duplicate().order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < 64; i++) {
                w.putFloat(i * 4 * 16, w.getFloat(i * 4 * 16) + 1e-3f);
            }
            List<CommitReport> second = cp.save(2, s).done().get(30, TimeUnit.SECONDS);
            assertEquals(1, second.get(0).chunksWritten(), "only the changed chunk is written: " + second.get(0));
            assertEquals(first.get(0).chunks(), second.get(0).chunks());
            assertAllRaw(mem, 2);
            assertEquals(0, mem.list(layout.chunksPrefix()).stream().filter(o -> {
                try {
                    ByteBuffer b = mem.readAll(o.key());
                    return StoredChunkHeader.isDelta(b, 0, b.remaining());
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }).count(), "no differential chunk in the tier");
            assertSameState(s, cp.restore(RestoreRequest.step(2)).state());
            // Step 3 with the state of step 2: every chunk is held already.
            assertEquals(0, cp.save(3, s).done().get(30, TimeUnit.SECONDS).get(0).chunksWritten());
        }
    }

    @Test
    void promotionFromAnUncompressedTierStoresCompressedChunksOnDiskThatRestoreAndVerify() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            try (Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("memory", mem).uncompressed())
                    .tier(TierConfig.of("disk", disk)).build())) {
                List<CommitReport> reports = cp.save(1, state()).done().get(30, TimeUnit.SECONDS);
                assertEquals(List.of("memory", "disk"), reports.stream().map(CommitReport::tier).toList());
                assertTrue(reports.get(1).storedBytes() < reports.get(0).storedBytes(),
                        "disk stores the chunks compressed: " + reports);
            }
            assertAllRaw(mem, 1);
            int compressed = 0;
            for (EntryRecord e : manifest(disk, 1).entries()) {
                for (ChunkRef c : e.chunks()) {
                    ByteBuffer stored = disk.readAll(layout.chunkKey(c.hash()));
                    assertEquals(stored.remaining(), c.storedLength(), "the disk manifest records the disk's form");
                    assertEquals(StoredChunkHeader.codecOf(stored, 0, stored.remaining()).manifestName(), c.codec());
                    assertTrue(c.storedLength() < c.rawLength(), e.name() + " @" + c.offset() + " stored " + c.storedLength());
                    compressed++;
                }
            }
            assertTrue(compressed > 5, "chunks checked: " + compressed);
            try (Checkpointer diskOnly = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("disk", disk)).build())) {
                RestoreResult r = diskOnly.restore(RestoreRequest.latest());
                assertEquals("disk", r.tier());
                assertSameState(state(), r.state());
                assertEquals(0, r.chunksRepaired());
            }
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("memory", "mem", mem),
                    new StoreRef("disk", dir.toString(), disk)))) {
                List<StepCheck> checks = admin.verify("run1", List.of(1L), CheckpointAdmin.Progress.NONE);
                assertEquals(2, checks.size(), checks.toString());
                for (StepCheck c : checks) {
                    assertTrue(c.intact(), c.toString());
                    assertTrue(c.chunks() > 5, c.toString());
                }
            }
        }
    }
}
