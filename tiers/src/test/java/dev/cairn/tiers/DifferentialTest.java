package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.CommitReport;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
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
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Differential chunks in the memory tier: what they cost, what breaks them, and how a restore copes. */
class DifferentialTest {
    static final int VALUES = 400_000;
    @TempDir
    Path dir;
    final StoreLayout layout = new StoreLayout("run1");

    /** fp32 weights of N(0, 0.02), as a model's are. */
    private static float[] weights(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] w = new float[VALUES];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (nextGaussian(r) * 0.02);
        }
        return w;
    }

    private static double nextGaussian(SplittableRandom r) {
        return Math.sqrt(-2 * Math.log(1 - r.nextDouble())) * Math.cos(2 * Math.PI * r.nextDouble());
    }

    /** Changes {@code fraction} of the values, scattered. */
    private static void change(float[] w, double fraction, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (int c = 0; c < w.length * fraction; c++) {
            int i = r.nextInt(w.length);
            w[i] = w[i] + (float) (nextGaussian(r) * 1e-3);
        }
    }

    private static TrainingState state(float[] w) {
        ByteBuffer b = ByteBuffer.allocateDirect(w.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(w);
        return TrainingState.builder().add(Tensor.of("w", DType.F32, new long[] {w.length}, b)).build();
    }

    private Manifest manifest(dev.cairn.ObjectStore store, long step) throws Exception {
        try (RootAllocator alloc = new RootAllocator()) {
            return ManifestFormat.read(store.readAll(layout.manifestKey(step)), "m", alloc);
        }
    }

    @Test
    void aSecondSaveAfterOnePercentScatteredChangeWritesAFractionOfTheFirst() throws Exception {
        float[] w = weights(1);
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(2)).build())) {
            CommitReport first = cp.save(1, state(w)).done().get(30, TimeUnit.SECONDS).get(0);
            change(w, 0.01, 2);
            CommitReport second = cp.save(2, state(w)).done().get(30, TimeUnit.SECONDS).get(0);
            assertTrue(second.bytesWritten() < 0.15 * first.bytesWritten(),
                    "differential save wrote " + second.bytesWritten() + " of a full " + first.bytesWritten());
            Manifest m = manifest(mem, 2);
            long deltas = m.entries().get(0).chunks().stream().filter(c -> !c.bases().isEmpty()).count();
            assertTrue(deltas > 0, "chunks stored as differences");
            assertSameState(state(w), cp.restore(RestoreRequest.latest()).state());
        }
        // Off: the same change writes nearly every chunk whole again.
        w = weights(1);
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").differential(1).tier(TierConfig.of("memory", mem).compressionLevel(1)).build())) {
            CommitReport first = cp.save(1, state(w)).done().get(30, TimeUnit.SECONDS).get(0);
            change(w, 0.01, 2);
            CommitReport second = cp.save(2, state(w)).done().get(30, TimeUnit.SECONDS).get(0);
            assertTrue(second.bytesWritten() > 0.8 * first.bytesWritten(), second + " vs " + first);
            assertTrue(manifest(mem, 2).entries().get(0).chunks().stream().allMatch(c -> c.bases().isEmpty()));
        }
    }

    @Test
    void aFirstTierOnDiskStoresWholeChunksSinceEachDifferenceWouldReadItsBaseBackFromDisk() throws Exception {
        float[] w = weights(1);
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").differential(8).tier(TierConfig.of("disk", disk)).build())) {
            CommitReport first = cp.save(1, state(w)).done().get(30, TimeUnit.SECONDS).get(0);
            change(w, 0.01, 2);
            CommitReport second = cp.save(2, state(w)).done().get(30, TimeUnit.SECONDS).get(0);
            assertTrue(second.bytesWritten() > 0.8 * first.bytesWritten(), second + " vs " + first);
            assertTrue(manifest(disk, 2).entries().get(0).chunks().stream().allMatch(c -> c.bases().isEmpty()),
                    "no differential chunk on a disk first tier");
            assertSameState(state(w), cp.restore(RestoreRequest.latest()).state());
        }
    }

    /** Saves steps 1..3 with small changes, so step 3's chunks are chains of two links in memory. */
    private float[] saveChain(Checkpointer cp) throws Exception {
        float[] w = weights(5);
        for (long step = 1; step <= 3; step++) {
            if (step > 1) {
                change(w, 0.002, step);
            }
            cp.save(step, state(w)).done().get(30, TimeUnit.SECONDS);
        }
        return w;
    }

    private static ChunkRef chained(Manifest m) {
        return m.entries().get(0).chunks().stream().filter(c -> c.bases().size() == 2).findFirst().orElseThrow();
    }

    @Test
    void aBaseFlippedOrDeletedInMemoryIsDetectedAndRepairedFromDisk() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(3))
                     .tier(TierConfig.of("disk", disk).keepLast(3)).build())) {
            float[] w = saveChain(cp);
            ChunkRef c = chained(manifest(mem, 3));
            // Flip a byte of the whole chunk at the end of the chain, and delete a middle link of another chunk.
            String whole = c.bases().get(1);
            ByteBuffer stored = mem.readAll(layout.chunkKey(whole));
            byte[] bytes = new byte[stored.remaining()];
            stored.get(bytes);
            bytes[bytes.length - 5] ^= 0x10;
            mem.put(layout.chunkKey(whole), ByteBuffer.wrap(bytes));
            List<ChunkRef> others = manifest(mem, 3).entries().get(0).chunks().stream()
                    .filter(o -> o.bases().size() == 2 && !o.bases().get(1).equals(whole)).toList();
            assertFalse(others.isEmpty());
            mem.delete(layout.chunkKey(others.get(0).bases().get(0)));

            RestoreResult r = cp.restore(RestoreRequest.latest());
            assertEquals("memory", r.tier());
            assertEquals(2, r.chunksRepaired());
            assertSameState(state(w), r.state());
        }
    }

    @Test
    void aBrokenChainWithNoOtherTierIsReportedCorrupt() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(3)).build())) {
            saveChain(cp);
            ChunkRef c = chained(manifest(mem, 3));
            mem.delete(layout.chunkKey(c.bases().get(1)));
            CheckpointException e = assertThrows(CheckpointException.class, () -> cp.restore(RestoreRequest.step(3)));
            assertEquals(CheckpointException.Reason.CORRUPT, e.reason());
            assertTrue(e.getMessage().contains(c.hash()) && e.getMessage().contains("missing"), e.getMessage());
        }
    }

    @Test
    void aSaveAfterAGcOfRetiredStepsStillFindsItsChainsOrWritesWhole() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").differential(3).tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(1)).build())) {
            float[] w = weights(9);
            for (long step = 1; step <= 7; step++) {
                change(w, 0.003, step);
                cp.save(step, state(w)).done().get(30, TimeUnit.SECONDS);
                cp.gc(false);
                assertSameState(state(w), cp.restore(RestoreRequest.latest()).state());
                for (EntryRecord e : manifest(mem, step).entries()) {
                    for (ChunkRef c : e.chunks()) {
                        assertTrue(c.bases().size() < 3, "chain bound");
                        for (String b : c.bases()) {
                            mem.stat(layout.chunkKey(b));
                        }
                    }
                }
            }
        }
    }
}
