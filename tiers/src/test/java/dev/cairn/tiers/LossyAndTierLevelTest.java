package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
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
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Lossy optimizer moments, and tiers that store at their own zstd level. */
class LossyAndTierLevelTest {
    @TempDir
    Path dir;
    final StoreLayout layout = new StoreLayout("run1");

    private static Tensor floats(String name, int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        ByteBuffer b = ByteBuffer.allocateDirect(n * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            float v = switch (i % 50) {
                case 0 -> Float.intBitsToFloat(0x7fc01234); // NaN with a payload
                case 1 -> Float.NEGATIVE_INFINITY;
                case 2 -> -0.0f;
                case 3 -> Float.MIN_VALUE * (1 + r.nextInt(1000)); // subnormal
                case 4 -> Float.MAX_VALUE;
                default -> (float) (r.nextDouble() * 2 - 1) * (float) Math.pow(10, r.nextInt(-8, 4));
            };
            b.putFloat(i * 4, v);
        }
        return Tensor.of(name, DType.F32, new long[] {n}, b);
    }

    private static TrainingState state() {
        return TrainingState.builder().add(floats("model/w", 50_000, 1)).add(floats("optim/exp_avg", 50_000, 2).asOptimizerState())
                .add(floats("optim/exp_avg_sq", 50_000, 3).asOptimizerState()).build();
    }

    private Manifest manifest(dev.cairn.ObjectStore store, long step) throws Exception {
        try (RootAllocator alloc = new RootAllocator()) {
            return ManifestFormat.read(store.readAll(layout.manifestKey(step)), "m", alloc);
        }
    }

    @Test
    void lossyMomentsRestoreWithinTheirBoundWithAWarningAndWeightsExactly() throws Exception {
        int bits = 10;
        double bound = Math.scalb(1.0, -(bits + 1));
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").lossy("optim/.*", bits).tier(TierConfig.of("memory", mem)).build())) {
            cp.save(1, state()).done().get(30, TimeUnit.SECONDS);
            RestoreResult r = cp.restore(RestoreRequest.latest());
            TrainingState saved = state();
            assertEquals(0, Fixtures.concat(saved.entry("model/w")).compareTo(Fixtures.concat(r.state().entry("model/w"))),
                    "weights are exact");
            for (String name : new String[] {"optim/exp_avg", "optim/exp_avg_sq"}) {
                var a = Fixtures.concat(saved.entry(name)).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
                var b = Fixtures.concat(r.state().entry(name)).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
                boolean someRounded = false;
                for (int i = 0; i < a.limit(); i++) {
                    float x = a.get(i);
                    float y = b.get(i);
                    if (Float.isNaN(x) || Float.isInfinite(x) || x == 0 || Math.abs(x) < Float.MIN_NORMAL) {
                        assertEquals(Float.floatToRawIntBits(x), Float.floatToRawIntBits(y), name + "[" + i + "] kept exactly");
                    } else {
                        assertTrue(Math.abs(y - x) <= bound * Math.abs(x), name + "[" + i + "] " + x + " -> " + y);
                        someRounded |= x != y;
                    }
                }
                assertTrue(someRounded, name + " was rounded");
            }
            assertEquals(2, r.warnings().size(), r.warnings().toString());
            assertTrue(r.warnings().get(0).contains("optim/exp_avg") && r.warnings().get(0).contains("lossy"), r.warnings().toString());
            for (EntryRecord e : manifest(mem, 1).entries()) {
                for (ChunkRef c : e.chunks()) {
                    assertEquals(e.name().startsWith("optim/") ? bound : 0.0, c.errorBound(), e.name());
                }
            }
        }
    }

    @Test
    void aLossyPatternThatNamesWeightsFailsTheSaveBeforeAnythingIsWritten() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").lossy(".*", 10).tier(TierConfig.of("memory", mem)).build())) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> cp.save(1, state()));
            assertEquals(CheckpointException.Reason.INVALID_INPUT, e.reason());
            assertTrue(e.getMessage().contains("'model/w'") && e.getMessage().contains("optimizer state"), e.getMessage());
            assertEquals(0, mem.list("").size(), "nothing written");
            assertTrue(cp.list().isEmpty());
        }
        // A tensor the pattern names that would not be rounded (an integer counter) needs no mark.
        ByteBuffer counter = ByteBuffer.allocateDirect(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1234);
        TrainingState withCounter = TrainingState.builder().add(floats("optim/exp_avg", 1000, 2).asOptimizerState())
                .add(Tensor.of("optim/step", DType.I64, new long[] {1}, counter)).build();
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").lossy("optim/.*", 10).tier(TierConfig.of("memory", mem)).build())) {
            cp.save(1, withCounter).done().get(30, TimeUnit.SECONDS);
            assertEquals(1234, cp.restore(RestoreRequest.latest()).state().tensor("optim/step").buffers().get(0)
                    .order(ByteOrder.LITTLE_ENDIAN).getLong(0));
        }
    }

    @Test
    void lossyIsOffByDefaultAndValidated() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("memory", mem)).build())) {
            cp.save(1, state()).done().get(30, TimeUnit.SECONDS);
            RestoreResult r = cp.restore(RestoreRequest.latest());
            assertSameState(state(), r.state());
            assertTrue(r.warnings().isEmpty());
        }
        assertThrows(CheckpointException.class, () -> CairnConfig.builder("r").lossy("optim/.*", 0));
        assertThrows(CheckpointException.class, () -> CairnConfig.builder("r").lossy("(", 8));
        assertThrows(CheckpointException.class, () -> CairnConfig.builder("r").differential(0));
        assertThrows(CheckpointException.class, () -> TierConfig.of("m", new MemoryObjectStore(1 << 20)).compressionLevel(23));
    }

    @Test
    void aTierStoresAtItsOwnLevelAndRestoresExactly() throws Exception {
        // Text-like content: a strong level finds repeats that level 1 partly misses, so stored lengths differ.
        byte[] text = Fixtures.wordText(400_000, 3);
        TrainingState s = TrainingState.builder()
                .add(Tensor.of("t", DType.U8, new long[] {text.length}, ByteBuffer.allocateDirect(text.length).put(text).flip())).build();
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").compressionLevel(1).tier(TierConfig.of("memory", mem).compressionLevel(1))
                     .tier(TierConfig.of("disk", disk).compressionLevel(19)).build())) {
            cp.save(1, s).done().get(30, TimeUnit.SECONDS);
            Manifest inMemory = manifest(mem, 1);
            Manifest onDisk = manifest(disk, 1);
            assertTrue(onDisk.storedBytes() < inMemory.storedBytes(), "disk at level 19 stores less: " + onDisk.storedBytes()
                    + " vs " + inMemory.storedBytes());
            for (EntryRecord e : onDisk.entries()) {
                for (ChunkRef c : e.chunks()) {
                    assertEquals(disk.stat(layout.chunkKey(c.hash())).size(), c.storedLength(), "disk manifest records disk's size");
                }
            }
        }
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer diskOnly = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("disk", disk)).build())) {
            RestoreResult restored = diskOnly.restore(RestoreRequest.latest());
            assertSameState(s, restored.state());
            assertEquals(0, restored.chunksRepaired());
        }
    }
}
