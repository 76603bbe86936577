package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.Blob;
import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.CommitReport;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.SaveMode;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.Tier;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointerTest {
    @TempDir
    Path dir;

    private TrainingState state(long seed) {
        return TrainingState.builder()
                .add(randomTensor("layer0/weight", DType.F32, 100_000, seed))
                .add(randomTensor("layer0/bias", DType.BF16, 333, seed + 1))
                .add(randomTensor("scalar", DType.I64, 1, seed + 2))
                .add(dev.cairn.Tensor.allocate("empty", DType.F16, 0, 5))
                .add(Blob.ofUtf8("rng", "{\"seed\":" + seed + "}"))
                .build();
    }

    @Test
    void savesAndRestoresTheNewestStepFromTheFastestTier() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(smallConfig("run1")
                     .tier(TierConfig.of("memory", mem)).tier(TierConfig.of("disk", disk).everySteps(2)).build())) {
            for (long step = 1; step <= 4; step++) {
                CheckpointHandle h = cp.save(step, state(step));
                List<CommitReport> reports = h.done().get(30, TimeUnit.SECONDS);
                assertEquals(step % 2 == 0 ? 2 : 1, reports.size());
            }
            RestoreResult r = cp.restore(RestoreRequest.latest());
            assertEquals(4, r.step());
            assertEquals("memory", r.tier());
            assertSameState(state(4), r.state());
            assertSameState(state(3), cp.restore(RestoreRequest.step(3)).state());
            assertEquals(0, ((CairnCheckpointer) cp).stagingSlabsInUse());
        }
    }

    @Test
    void zeroCopySaveRestoresTheSameBytes() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("memory", mem)).build())) {
            TrainingState s = state(7);
            CheckpointHandle h = cp.save(1, s, SaveMode.ZERO_COPY);
            h.captured().get(30, TimeUnit.SECONDS);
            h.done().get(30, TimeUnit.SECONDS);
            assertSameState(state(7), cp.restore(RestoreRequest.latest()).state());
        }
    }

    /**
     * ZERO_COPY's contract, as a framework that overlaps the capture with its next step uses it: once {@code captured()}
     * completes the caller overwrites its buffers (the next update), and the checkpoint still holds what they held at
     * the save; the next save (COPY here) holds the new values. With staging far larger than the state (copied at once)
     * and far smaller (copied as the encoders free slabs).
     */
    @Test
    void zeroCopyHoldsTheBuffersAsTheyWereUntilCapturedWhateverTheStaging() throws Exception {
        for (long staging : new long[] {16L << 20, CairnConfig.minimumStagingBytes(64 << 10, 2)}) {
            try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
                 Checkpointer cp = Checkpointer.open(smallConfig("overlap").stagingBytes(staging)
                         .tier(TierConfig.of("memory", mem).keepLast(3)).build())) {
                TrainingState live = state(21);
                CheckpointHandle first = cp.save(1, live, SaveMode.ZERO_COPY);
                first.captured().get(30, TimeUnit.SECONDS);
                Fixtures.fill(live.tensor("layer0/weight"), 99); // the next update, right after the capture
                Fixtures.fill(live.tensor("layer0/bias"), 98);
                CheckpointHandle second = cp.save(2, live);
                first.done().get(30, TimeUnit.SECONDS);
                second.done().get(30, TimeUnit.SECONDS);
                assertSameState(state(21), cp.restore(RestoreRequest.step(1)).state());
                assertSameState(live, cp.restore(RestoreRequest.step(2)).state());
            }
        }
    }

    /**
     * A framework may save again from the callback of a ZERO_COPY save's {@code captured()}, which runs on the engine's
     * capture thread: that save must not wait for the capture it is called from (it did, for ever, when the capture
     * completed {@code captured()} before it let the next save go).
     */
    @Test
    void aSaveFromTheCapturedCallbackOfAZeroCopySaveGoesOn() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("callback").stagingBytes(64L << 20)
                     .tier(TierConfig.of("memory", mem).keepLast(3)).build())) {
            TrainingState big = TrainingState.builder().add(randomTensor("w", DType.F32, 4_000_000, 5)).build();
            java.util.concurrent.CompletableFuture<CheckpointHandle> second = new java.util.concurrent.CompletableFuture<>();
            CheckpointHandle first = cp.save(1, big, SaveMode.ZERO_COPY);
            first.captured().thenRun(() -> {
                try {
                    second.complete(cp.save(2, state(4)));
                } catch (RuntimeException e) {
                    second.completeExceptionally(e);
                }
            });
            first.done().get(30, TimeUnit.SECONDS);
            // 30 s only bounds the old defect's hang; the save takes milliseconds.
            second.get(30, TimeUnit.SECONDS).done().get(30, TimeUnit.SECONDS);
            assertSameState(state(4), cp.restore(RestoreRequest.step(2)).state());
        }
    }

    @Test
    void restoresIntoCallerBuffersAndRefusesWrongShapes() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("memory", mem)).build())) {
            cp.save(1, state(1)).done().get(30, TimeUnit.SECONDS);
            TrainingState target = state(99);
            RestoreResult r = cp.restore(RestoreRequest.latest().into(target));
            assertSameState(state(1), r.state());
            for (String name : List.of("layer0/weight", "layer0/bias", "scalar")) {
                assertEquals(0, Fixtures.concat(state(1).entry(name)).compareTo(Fixtures.concat(target.entry(name))), name);
                assertTrue(r.state().entry(name) == target.entry(name), "restored into the caller's tensor " + name);
            }
            TrainingState wrong = TrainingState.builder().add(randomTensor("layer0/weight", DType.F32, 99_999, 1)).build();
            CheckpointException e = assertThrows(CheckpointException.class, () -> cp.restore(RestoreRequest.latest().into(wrong)));
            assertEquals(CheckpointException.Reason.INVALID_INPUT, e.reason());
            assertTrue(e.getMessage().contains("layer0/weight"), e.getMessage());
        }
    }

    @Test
    void retentionFreesRetiredChunksAtOnceButSparesUnreferencedYoungOnes() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").gcGrace(java.time.Duration.ofMinutes(10))
                     .tier(TierConfig.of("memory", mem).keepLast(1)).build())) {
            cp.save(1, state(1)).done().get(30, TimeUnit.SECONDS);
            long one = mem.usedBytes();
            // An orphan chunk, as a killed save leaves behind: young, so the grace period keeps it.
            mem.put("run1/chunks/ab/ab" + "0".repeat(30), java.nio.ByteBuffer.wrap(new byte[100]));
            for (long step = 2; step <= 6; step++) {
                cp.save(step, state(step)).done().get(30, TimeUnit.SECONDS);
            }
            // Retention runs right after each commit, behind the commit future; a dry run waits for it to finish.
            cp.gc(true);
            assertTrue(mem.usedBytes() < 2 * one + 1000, "retired steps' chunks are freed: " + mem.usedBytes() + " vs " + one);
            assertTrue(mem.list("run1/chunks/ab/").size() == 1, "the young orphan is kept");
            assertEquals(List.of(6L), cp.list().stream().map(dev.cairn.CheckpointInfo::step).toList());
        }
    }

    @Test
    void twoRunsInOneStoreNeverCollectEachOthersChunks() throws Exception {
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer a = Checkpointer.open(smallConfig("run-a").tier(TierConfig.of("disk", disk).keepLast(1)).build());
             Checkpointer b = Checkpointer.open(smallConfig("run-b").tier(TierConfig.of("disk", disk).keepLast(1)).build())) {
            for (long step = 1; step <= 4; step++) {
                a.save(step, state(step)).done().get(30, TimeUnit.SECONDS);
                b.save(step, state(100 + step)).done().get(30, TimeUnit.SECONDS);
                a.gc(false);
                b.gc(false);
            }
            assertSameState(state(4), a.restore(RestoreRequest.latest()).state());
            assertSameState(state(104), b.restore(RestoreRequest.latest()).state());
        }
    }

    @Test
    void aCollectorOutsideTheWriterKeepsRetiredChunksForTheGracePeriod() throws Exception {
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            try (Checkpointer cp = Checkpointer.open(smallConfig("run1").gcGrace(java.time.Duration.ofHours(1))
                    .tier(TierConfig.of("disk", disk).keepLast(5)).build())) {
                for (long step = 1; step <= 3; step++) {
                    cp.save(step, state(step)).done().get(30, TimeUnit.SECONDS);
                }
            }
            long chunksBefore = disk.list("run1/chunks/").size();
            try (org.apache.arrow.memory.RootAllocator alloc = new org.apache.arrow.memory.RootAllocator();
                 Tier tier = new Tier(TierConfig.of("disk", disk).keepLast(1), 0, new dev.cairn.tiers.internal.layout.StoreLayout("run1"), 1)) {
                var commits = new dev.cairn.tiers.internal.commit.CommitProtocol(alloc);
                var gc = new dev.cairn.tiers.internal.gc.GarbageCollector(commits);
                var outside = gc.collect(tier, java.time.Duration.ofHours(1), java.util.Set.of(), false,
                        dev.cairn.tiers.internal.gc.GarbageCollector.Collector.OUTSIDER);
                assertEquals(List.of(2L, 1L), outside.stepsRetired());
                assertEquals(0, outside.chunksDeleted(), "young chunks of retired steps stay: a live writer may reuse them");
                assertEquals(chunksBefore, disk.list("run1/chunks/").size());
                var writer = gc.collect(tier, java.time.Duration.ofHours(1), java.util.Set.of(), true,
                        dev.cairn.tiers.internal.gc.GarbageCollector.Collector.WRITER);
                assertEquals(0, writer.chunksDeleted(), "nothing left that only retired steps name: their manifests are gone");
            }
        }
    }
}
