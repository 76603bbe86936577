package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every chunk is verified on restore; a bad one is fetched from another tier that holds the same content. */
class RepairTest {
    @TempDir
    Path dir;
    final StoreLayout layout = new StoreLayout("run1");

    private static TrainingState state(long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 100_000, seed)).add(randomTensor("v", DType.BF16, 7_777, seed)).build();
    }

    private static List<String> chunksOf(dev.cairn.ObjectStore store, StoreLayout layout, long step) throws Exception {
        try (RootAllocator alloc = new RootAllocator()) {
            Manifest m = ManifestFormat.read(store.readAll(layout.manifestKey(step)), "m", alloc);
            return List.copyOf(m.chunkHashes());
        }
    }

    @Test
    void repairsCorruptAndMissingChunksOfTheFastTierFromTheSlowOne() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("memory", mem)).tier(TierConfig.of("disk", disk)).build())) {
            cp.save(1, state(1)).done().get(30, TimeUnit.SECONDS);
            List<String> chunks = chunksOf(mem, layout, 1);
            ByteBuffer stored = mem.readAll(layout.chunkKey(chunks.get(0)));
            byte[] flipped = new byte[stored.remaining()];
            stored.get(flipped);
            flipped[flipped.length / 2] ^= 1;
            mem.put(layout.chunkKey(chunks.get(0)), ByteBuffer.wrap(flipped));
            mem.delete(layout.chunkKey(chunks.get(3)));

            RestoreResult r = cp.restore(RestoreRequest.latest());
            assertEquals("memory", r.tier());
            assertEquals(2, r.chunksRepaired());
            assertTrue(r.bytesReadByTier().get("disk") > 0);
            assertSameState(state(1), r.state());
        }
    }

    @Test
    void aChunkBadInEveryTierFailsNamingItAndTheNewestIntactStep() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("memory", mem).keepLast(3))
                     .tier(TierConfig.of("disk", disk).keepLast(3)).build())) {
            cp.save(1, state(1)).done().get(30, TimeUnit.SECONDS);
            cp.save(2, state(2)).done().get(30, TimeUnit.SECONDS);
            String bad = chunksOf(disk, layout, 2).get(1);
            mem.delete(layout.chunkKey(bad));
            disk.put(layout.chunkKey(bad), ByteBuffer.wrap(new byte[] {1, 2, 3}));
            CheckpointException e = assertThrows(CheckpointException.class, () -> cp.restore(RestoreRequest.latest()));
            assertEquals(CheckpointException.Reason.CORRUPT, e.reason());
            assertTrue(e.getMessage().contains(bad), e.getMessage());
            assertTrue(e.getMessage().contains("newest older intact checkpoint is step 1"), e.getMessage());
            assertFalse(e.getMessage().contains("targets"), "new tensors, handed to no one: " + e.getMessage());
            TrainingState targets = state(9);
            CheckpointException into = assertThrows(CheckpointException.class,
                    () -> cp.restore(RestoreRequest.latest().into(targets)));
            assertTrue(into.getMessage().contains("The targets hold part of step 2 now"), into.getMessage());
            cp.restore(RestoreRequest.step(1).into(targets)); // as the error advises
            assertSameState(state(1), targets);
            assertSameState(state(1), cp.restore(RestoreRequest.step(1)).state());
        }
    }
}
