package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointAdmin;
import dev.cairn.CheckpointAdmin.CopyReport;
import dev.cairn.CheckpointAdmin.StepCheck;
import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.StoreRef;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.CommittedManifest;
import dev.cairn.tiers.internal.manifest.Manifest;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A step held by two stores in different stored forms: a memory tier keeps chunk X as a difference against an older
 * chunk, the disk tier (its promotion) keeps X whole. A copy takes each chunk from the first store whose copy
 * verifies; when that is not the store the MANIFEST came from, the form it sends is that store's. Before, the copy took
 * the bytes from the store that verified but described them with the chosen MANIFEST's row: a difference went in
 * without its base (the step could not be restored), or a whole chunk was read only up to another form's length.
 */
class CopyFromAFallbackSourceTest {
    private static final String RUN = "fallback";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);
    private static final int VALUES = 400_000;

    @TempDir
    Path dir;

    private MemoryObjectStore mem;
    private FileSystemObjectStore disk;
    private float[] step2;

    private static float[] weights(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] w = new float[VALUES];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (Math.sqrt(-2 * Math.log(1 - r.nextDouble())) * Math.cos(2 * Math.PI * r.nextDouble()) * 0.02);
        }
        return w;
    }

    private static TrainingState state(float[] w) {
        ByteBuffer b = ByteBuffer.allocateDirect(w.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(w);
        return TrainingState.builder().add(Tensor.of("w", DType.F32, new long[] {w.length}, b)).build();
    }

    /** Steps 1 and 2 into memory (step 2's chunks differences against step 1's) and, promoted, whole onto disk. */
    @BeforeEach
    void save() throws Exception {
        mem = new MemoryObjectStore(256L << 20);
        disk = new FileSystemObjectStore(dir.resolve("disk"));
        try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("memory", mem).compressionLevel(1)
                .keepLast(3)).tier(TierConfig.of("disk", disk).keepLast(3)).build())) {
            float[] w = weights(1);
            cp.save(1, state(w)).done().get(30, TimeUnit.SECONDS);
            SplittableRandom r = new SplittableRandom(2);
            for (int c = 0; c < w.length / 100; c++) {
                int i = r.nextInt(w.length);
                w[i] += (float) (r.nextDouble() * 1e-3);
            }
            cp.save(2, state(w)).done().get(30, TimeUnit.SECONDS);
            step2 = w;
        }
    }

    @org.junit.jupiter.api.AfterEach
    void close() throws Exception {
        mem.close();
        disk.close();
    }

    private static Manifest manifest(ObjectStore store, long step) throws Exception {
        try (RootAllocator alloc = new RootAllocator()) {
            return CommittedManifest.load(store, LAYOUT, step, alloc);
        }
    }

    /** A chunk of step 2 that memory keeps as a difference, and the same chunk as disk keeps it. */
    private ChunkRef[] differential() throws Exception {
        ChunkRef x = manifest(mem, 2).entries().get(0).chunks().stream().filter(c -> !c.bases().isEmpty()).findFirst()
                .orElseThrow();
        ChunkRef onDisk = manifest(disk, 2).entries().get(0).chunks().stream().filter(c -> c.hash().equals(x.hash()))
                .findFirst().orElseThrow();
        assertTrue(onDisk.bases().isEmpty() && onDisk.storedLength() != x.storedLength(), "two forms: " + x + " / " + onDisk);
        return new ChunkRef[] {x, onDisk};
    }

    private static void assertIntactAndRestores(ObjectStore target, float[] w) throws Exception {
        try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("c", "c", target)))) {
            StepCheck check = admin.verify(RUN, List.of(2L), CheckpointAdmin.Progress.NONE).get(0);
            assertTrue(check.intact(), check.toString());
        }
        try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("only", target).keepLast(10)).build())) {
            assertSameState(state(w), cp.restore(RestoreRequest.step(2)).state());
        }
    }

    /** The MANIFEST's row of {@code hash} in {@code store} describes the object stored there. */
    private static ChunkRef assertRecordsWhatIsStored(ObjectStore store, String hash) throws Exception {
        ChunkRef row = manifest(store, 2).entries().get(0).chunks().stream().filter(c -> c.hash().equals(hash)).findFirst()
                .orElseThrow();
        assertEquals(store.stat(LAYOUT.chunkKey(hash)).size(), row.storedLength(), "the stored length recorded");
        for (String base : row.bases()) {
            store.stat(LAYOUT.chunkKey(base)); // every base it names is there
        }
        return row;
    }

    /**
     * The MANIFEST from disk names X whole; disk lost X, memory holds it as a difference: the copy sends the
     * difference with its base and records it so.
     */
    @Test
    void aDifferenceFromAFallbackSourceGoesInWithItsBaseAndIsRecordedAsSuch() throws Exception {
        ChunkRef[] x = differential();
        disk.delete(LAYOUT.chunkKey(x[0].hash()));
        try (FileSystemObjectStore c = new FileSystemObjectStore(dir.resolve("c"))) {
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("disk", "disk", disk),
                    new StoreRef("mem", "mem", mem)))) {
                CopyReport r = admin.copy(RUN, 2, new StoreRef("target", "c", c), 2, CheckpointAdmin.Progress.NONE);
                assertEquals("disk", r.from());
                assertFalse(r.alreadyCommitted());
            }
            ChunkRef row = assertRecordsWhatIsStored(c, x[0].hash());
            assertEquals(x[0].codec(), row.codec(), "memory's form, as sent");
            assertEquals(x[0].bases(), row.bases());
            assertIntactAndRestores(c, step2);
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("disk", "disk", disk),
                    new StoreRef("mem", "mem", mem)))) {
                CopyReport again = admin.copy(RUN, 2, new StoreRef("target", "c", c), 2, CheckpointAdmin.Progress.NONE);
                assertTrue(again.alreadyCommitted(), "the MANIFEST written with the target's forms is this step's");
                assertEquals(0, again.chunksCopied());
            }
        }
    }

    /**
     * The MANIFEST from memory names X as a short difference; memory lost X, disk holds it whole, longer: the copy
     * reads disk's whole object, sends it, and records it whole.
     */
    @Test
    void aWholeChunkFromAFallbackSourceIsReadWholeAndRecordedWhole() throws Exception {
        ChunkRef[] x = differential();
        mem.delete(LAYOUT.chunkKey(x[0].hash()));
        try (FileSystemObjectStore c = new FileSystemObjectStore(dir.resolve("c"))) {
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("mem", "mem", mem),
                    new StoreRef("disk", "disk", disk)))) {
                assertEquals("mem", admin.copy(RUN, 2, new StoreRef("target", "c", c), 2, CheckpointAdmin.Progress.NONE)
                        .from());
            }
            ChunkRef row = assertRecordsWhatIsStored(c, x[0].hash());
            assertEquals(x[1].codec(), row.codec(), "disk's form, as sent");
            assertEquals(x[1].storedLength(), row.storedLength());
            assertTrue(row.bases().isEmpty());
            assertIntactAndRestores(c, step2);
        }
    }

    /**
     * A step committed in the target already records X as memory's difference; X is lost there and in memory, and
     * disk holds it whole: the committed MANIFEST cannot change, so the copy refuses to put another form under it
     * (which readers would read only to the recorded length) and says so.
     */
    @Test
    void aCommittedStepIsRepairedOnlyWithTheFormItsManifestRecords() throws Exception {
        ChunkRef[] x = differential();
        try (FileSystemObjectStore c = new FileSystemObjectStore(dir.resolve("c"))) {
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("mem", "mem", mem)))) {
                admin.copy(RUN, 2, new StoreRef("target", "c", c), 2, CheckpointAdmin.Progress.NONE);
            }
            assertEquals(mem.readAll(LAYOUT.manifestKey(2)), c.readAll(LAYOUT.manifestKey(2)),
                    "every chunk sent as the MANIFEST records it: the MANIFEST is copied byte for byte");
            c.delete(LAYOUT.chunkKey(x[0].hash()));
            mem.delete(LAYOUT.chunkKey(x[0].hash()));
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("mem", "mem", mem),
                    new StoreRef("disk", "disk", disk)))) {
                CheckpointException e = assertThrows(CheckpointException.class,
                        () -> admin.copy(RUN, 2, new StoreRef("target", "c", c), 2, CheckpointAdmin.Progress.NONE));
                assertEquals(CheckpointException.Reason.CORRUPT, e.reason(), e.getMessage());
                assertTrue(e.getMessage().contains("not as " + x[0].codec()), e.getMessage());
            }
            assertThrows(java.nio.file.NoSuchFileException.class, () -> c.stat(LAYOUT.chunkKey(x[0].hash())),
                    "nothing put under the committed MANIFEST's row");
        }
    }

    // ---- two ranks, format 5: a MANIFEST that references its ranks' indexes and keeps its directory in pages

    private static final long[] GLOBAL = {256, 1000};

    private static TrainingState rankState(int r) {
        dev.cairn.ShardSpec sp = dev.cairn.ShardSpec.split(GLOBAL, 0, 2, r);
        ByteBuffer w = ByteBuffer.allocateDirect((int) (sp.lengths()[0] * GLOBAL[1] * 4)).order(ByteOrder.LITTLE_ENDIAN);
        SplittableRandom rnd = new SplittableRandom(40 + r);
        while (w.hasRemaining()) {
            w.putFloat((float) (rnd.nextGaussian() * 0.02));
        }
        return TrainingState.builder().add(Tensor.sharded("w", DType.F32, sp, w.flip())).build();
    }

    private static dev.cairn.CairnConfig.Builder rankConfig(int r) {
        return dev.cairn.CairnConfig.builder(RUN).chunkBytes(64 << 10).encoderThreads(1).stagingBytes(16L << 20)
                .deadline(java.time.Duration.ofSeconds(60)).gcGrace(java.time.Duration.ofMinutes(2)).rank(r, 2);
    }

    /**
     * Two ranks save step 5 into memory, uncompressed, and disk, compressed (a promotion encodes each chunk again):
     * the MANIFEST from memory names X raw, memory lost X, disk holds it compressed. The copy sends disk's form, and
     * writes the index of X's rank again, and the MANIFEST and the pages of its directory, to record it.
     */
    @Test
    void aTwoRankStepTakesTheFallbackFormIntoItsRankIndexAndDirectory() throws Exception {
        try (MemoryObjectStore fast = new MemoryObjectStore(256L << 20);
             FileSystemObjectStore slow = new FileSystemObjectStore(dir.resolve("slow"));
             MemoryObjectStore c = new MemoryObjectStore(256L << 20)) {
            List<Checkpointer> ranks = new java.util.ArrayList<>();
            for (int r = 0; r < 2; r++) {
                ranks.add(Checkpointer.open(rankConfig(r).tier(TierConfig.of("memory", fast).uncompressed().keepLast(3))
                        .tier(TierConfig.of("disk", slow).keepLast(3)).build()));
            }
            try {
                List<dev.cairn.CheckpointHandle> handles = new java.util.ArrayList<>();
                for (int r = 0; r < 2; r++) {
                    handles.add(ranks.get(r).save(5, rankState(r)));
                }
                for (dev.cairn.CheckpointHandle h : handles) {
                    h.done().get(60, TimeUnit.SECONDS);
                }
            } finally {
                ranks.forEach(Checkpointer::close);
            }
            slow.stat(LAYOUT.manifestKey(5));
            Manifest inFast = manifest(fast, 5);
            ChunkRef x = inFast.entries().stream().filter(e -> e.rank() == 1).findFirst().orElseThrow().chunks().get(0);
            ChunkRef onDisk = manifest(slow, 5).entries().stream().flatMap(e -> e.chunks().stream())
                    .filter(k -> k.hash().equals(x.hash())).findFirst().orElseThrow();
            assertTrue(inFast.paged() && onDisk.storedLength() < x.storedLength(), "two forms: " + x + " / " + onDisk);
            fast.delete(LAYOUT.chunkKey(x.hash()));

            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("mem", "mem", fast),
                    new StoreRef("disk", "disk", slow)))) {
                CopyReport r = admin.copy(RUN, 5, new StoreRef("target", "c", c), 2, CheckpointAdmin.Progress.NONE);
                assertEquals("mem", r.from());
                assertEquals(2, r.indexesCopied());
                Manifest copied = manifest(c, 5);
                assertTrue(copied.paged(), "format 5 still");
                ChunkRef row = copied.entries().stream().flatMap(e -> e.chunks().stream())
                        .filter(k -> k.hash().equals(x.hash())).findFirst().orElseThrow();
                assertEquals(onDisk.codec(), row.codec());
                assertEquals(c.stat(LAYOUT.chunkKey(x.hash())).size(), row.storedLength());
                CopyReport again = admin.copy(RUN, 5, new StoreRef("target", "c", c), 2, CheckpointAdmin.Progress.NONE);
                assertTrue(again.alreadyCommitted(), "the MANIFEST written with the target's forms is this step's");
                assertEquals(0, again.chunksCopied() + again.indexesCopied());
            }
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("c", "c", c)))) {
                StepCheck check = admin.verify(RUN, List.of(5L), CheckpointAdmin.Progress.NONE).get(0);
                assertTrue(check.intact(), check.toString());
            }
            for (int r = 0; r < 2; r++) {
                try (Checkpointer cp = Checkpointer.open(rankConfig(r).tier(TierConfig.of("only", c)).build())) {
                    assertSameState(rankState(r), cp.restore(RestoreRequest.step(5)).state());
                }
            }
        }
    }
}
