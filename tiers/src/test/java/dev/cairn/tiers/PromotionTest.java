package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.Checkpointer;
import dev.cairn.CommitReport;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Slower tiers are filled from the fastest one's stored chunks, sending only what they lack, manifest last. */
class PromotionTest {
    @TempDir
    Path dir;

    private static TrainingState state(long frozenSeed, long changingSeed) {
        return TrainingState.builder()
                .add(randomTensor("frozen", DType.F32, 100_000, frozenSeed))
                .add(randomTensor("changing", DType.F32, 20_000, changingSeed))
                .build();
    }

    @Test
    void promotesCommittedStepsToSlowerTiersSendingOnlyNewChunksVerbatim() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("memory", mem).keepLast(1))
                     .tier(TierConfig.of("disk", disk).everySteps(2).keepLast(2)).build())) {
            List<CommitReport> first = cp.save(2, state(1, 2)).done().get(30, TimeUnit.SECONDS);
            assertEquals(List.of("memory", "disk"), first.stream().map(CommitReport::tier).toList());
            assertEquals(first.get(0).chunks(), first.get(1).chunksWritten(), "a new tier gets every chunk");
            cp.save(3, state(1, 3)).done().get(30, TimeUnit.SECONDS);
            List<CommitReport> third = cp.save(4, state(1, 4)).done().get(30, TimeUnit.SECONDS);
            CommitReport diskReport = third.get(1);
            long changingChunks = (20_000L * 4 + RoundTripProperties.CHUNK - 1) / (64 << 10) + 1;
            assertTrue(diskReport.chunksWritten() <= changingChunks && diskReport.chunksWritten() > 0,
                    "only the changed tensor's chunks go to disk again: " + diskReport);
            // Stored bytes are copied as they are: same key, same bytes in both tiers.
            StoreLayout layout = new StoreLayout("run1");
            for (var o : disk.list(layout.chunksPrefix())) {
                if (mem.list(o.key()).size() == 1) {
                    assertEquals(mem.readAll(o.key()), disk.readAll(o.key()), o.key());
                }
            }
            // Memory keeps one step; disk keeps 2 and 4, and serves 2 when memory no longer has it.
            RestoreResult r = cp.restore(RestoreRequest.step(2));
            assertEquals("disk", r.tier());
            assertSameState(state(1, 2), r.state());
            assertEquals("memory", cp.restore(RestoreRequest.latest()).tier());
        }
    }

    @Test
    void aTargetThatHoldsAChunkInAnotherFormRecordsItsOwnStoredLength() throws Exception {
        // Words drawn from a small vocabulary: repeats that a strong zstd level finds and a fast one partly misses,
        // so the two tiers hold the same content at different stored lengths.
        byte[] text = Fixtures.wordText(300_000, 3);
        java.util.function.Supplier<TrainingState> state = () -> TrainingState.builder()
                .add(dev.cairn.Tensor.of("t", DType.U8, new long[] {text.length}, java.nio.ByteBuffer.allocateDirect(text.length).put(text).flip()))
                .build();
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20); FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            // The disk holds the chunks encoded fast (larger); the new save encodes them harder (smaller) in memory.
            try (Checkpointer fast = Checkpointer.open(smallConfig("run1").compressionLevel(1).tier(TierConfig.of("disk", disk)).build())) {
                fast.save(1, state.get()).done().get(30, TimeUnit.SECONDS);
            }
            try (Checkpointer strong = Checkpointer.open(smallConfig("run1").compressionLevel(19)
                    .tier(TierConfig.of("memory", mem).compressionLevel(19)).tier(TierConfig.of("disk", disk)).build())) {
                List<CommitReport> reports = strong.save(2, state.get()).done().get(30, TimeUnit.SECONDS);
                assertEquals(0, reports.get(1).chunksWritten(), "disk already holds every chunk");
            }
            StoreLayout layout = new StoreLayout("run1");
            try (org.apache.arrow.memory.RootAllocator alloc = new org.apache.arrow.memory.RootAllocator()) {
                var m = dev.cairn.tiers.internal.manifest.ManifestFormat.read(disk.readAll(layout.manifestKey(2)), "m", alloc);
                for (var e : m.entries()) {
                    for (var c : e.chunks()) {
                        assertEquals(disk.stat(layout.chunkKey(c.hash())).size(), c.storedLength(), "disk manifest records disk's size");
                    }
                }
            }
            try (Checkpointer diskOnly = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("disk", disk)).build())) {
                RestoreResult r2 = diskOnly.restore(RestoreRequest.step(2));
                assertSameState(state.get(), r2.state());
                assertEquals(0, r2.chunksRepaired());
            }
        }
    }
}
