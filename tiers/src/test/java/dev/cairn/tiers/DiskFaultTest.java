package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointInfo;
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
import dev.cairn.testkit.ReadErrorStore;
import dev.cairn.testkit.Tmpfs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Disk faults under the engine, on the file-system store: reads failing with EIO (a store wrapper, since a real bad
 * sector cannot be made on demand), and, on a real tmpfs the test mounts (root on Linux; skipped elsewhere), a
 * directory remounted read-only mid-run and a disk that fills up. In every case a restore gives the right bytes or
 * fails naming what it could not read, a failed save names the path, and what was committed before is untouched.
 */
class DiskFaultTest {
    private static final String RUN = "faults";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);
    /** Every save and restore here is small; the deadline only bounds a hang on a machine loaded by other builds. */
    private static final long WAIT_SECONDS = 120;

    @TempDir
    Path dir;
    private Tmpfs tmpfs;

    @AfterEach
    void unmount() throws Exception {
        if (tmpfs != null) {
            tmpfs.close();
        }
    }

    /** Three tensors; step 2 changes only "w", so its other chunks are shared with step 1. */
    private static TrainingState state(long step) {
        return TrainingState.builder()
                .add(randomTensor("w", DType.F32, 60_000, 100 + step))
                .add(randomTensor("frozen", DType.F32, 50_000, 7))
                .add(randomTensor("v", DType.BF16, 9_999, 7))
                .build();
    }

    private static List<String> chunksOf(dev.cairn.ObjectStore store, long step) throws Exception {
        try (RootAllocator alloc = new RootAllocator()) {
            Manifest m = ManifestFormat.read(store.readAll(LAYOUT.manifestKey(step)), "m", alloc);
            return List.copyOf(m.chunkHashes());
        }
    }

    // ---- EIO on reads --------------------------------------------------------------------------------------------

    @Test
    void aChunkThatFailsWithAnInputOutputErrorIsTakenFromTheNextTierThatHoldsIt() throws Exception {
        try (ReadErrorStore disk = new ReadErrorStore(new FileSystemObjectStore(dir.resolve("disk")));
             FileSystemObjectStore archive = new FileSystemObjectStore(dir.resolve("archive"));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk))
                     .tier(TierConfig.of("archive", archive)).build())) {
            cp.save(1, state(1)).done().get(WAIT_SECONDS, TimeUnit.SECONDS);
            List<String> chunks = chunksOf(disk, 1);
            String bad = LAYOUT.chunkKey(chunks.get(2));
            disk.failReadsOf(bad::equals);

            RestoreResult r = cp.restore(RestoreRequest.latest());
            assertEquals("disk", r.tier());
            assertEquals(1, r.chunksRepaired(), "the unreadable chunk came from the archive tier");
            assertTrue(r.bytesReadByTier().get("archive") > 0, r.bytesReadByTier().toString());
            assertTrue(disk.failures() > 0, "the fault was hit");
            assertSameState(state(1), r.state());

            // A read that crosses into the bad spot: the first bytes arrive, the next read fails. The restore must not
            // keep the half it got: the archive's whole copy replaces it, into the caller's own buffers too.
            disk.failAfterBytes(100);
            TrainingState into = state(99);
            r = cp.restore(RestoreRequest.step(1).into(into));
            assertEquals(1, r.chunksRepaired());
            assertSameState(state(1), into);
        }
    }

    @Test
    void aManifestThatFailsWithAnInputOutputErrorIsReadFromTheNextTier() throws Exception {
        try (ReadErrorStore disk = new ReadErrorStore(new FileSystemObjectStore(dir.resolve("disk")));
             FileSystemObjectStore archive = new FileSystemObjectStore(dir.resolve("archive"));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk))
                     .tier(TierConfig.of("archive", archive)).build())) {
            cp.save(1, state(1)).done().get(WAIT_SECONDS, TimeUnit.SECONDS);
            disk.failReadsOf(LAYOUT.manifestKey(1)::equals);
            // A fresh checkpointer: the one that saved holds the manifest it wrote in its cache.
            try (Checkpointer reader = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk))
                    .tier(TierConfig.of("archive", archive)).build())) {
                RestoreResult r = reader.restore(RestoreRequest.latest());
                assertEquals("archive", r.tier(), "the disk's manifest cannot be read");
                assertSameState(state(1), r.state());
            }
        }
    }

    @Test
    void aChunkUnreadableInEveryTierFailsTheRestoreNamingItsFileAndTheOlderIntactStep() throws Exception {
        try (ReadErrorStore disk = new ReadErrorStore(new FileSystemObjectStore(dir.resolve("disk")));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk).keepLast(3)).build())) {
            cp.save(1, state(1)).done().get(WAIT_SECONDS, TimeUnit.SECONDS);
            cp.save(2, state(2)).done().get(WAIT_SECONDS, TimeUnit.SECONDS);
            List<String> only2 = new java.util.ArrayList<>(chunksOf(disk, 2));
            only2.removeAll(chunksOf(disk, 1));
            assertTrue(!only2.isEmpty(), "step 2 has chunks of its own");
            String bad = LAYOUT.chunkKey(only2.get(0));
            disk.failReadsOf(bad::equals);

            TrainingState into = state(99);
            CheckpointException e = assertThrows(CheckpointException.class, () -> cp.restore(RestoreRequest.latest().into(into)));
            assertEquals(CheckpointException.Reason.CORRUPT, e.reason());
            assertTrue(e.getMessage().contains(bad), "names the file: " + e.getMessage());
            assertTrue(e.getMessage().contains(ReadErrorStore.EIO), "says why: " + e.getMessage());
            assertTrue(e.getMessage().contains("newest older intact checkpoint is step 1"), e.getMessage());
            // Step 1 does not need the bad chunk.
            assertSameState(state(1), cp.restore(RestoreRequest.step(1)).state());
        }
    }

    // ---- a directory remounted read-only mid-run -----------------------------------------------------------------

    private Path mountTmpfs(long bytes) throws Exception {
        Optional<Tmpfs> mounted = Tmpfs.mount(dir.resolve("tmpfs"), bytes);
        assumeTrue(mounted.isPresent(), "cannot mount a tmpfs here (needs root on Linux): the file-system fault is not run");
        tmpfs = mounted.get();
        return tmpfs.path();
    }

    @Test
    void aSaveIntoADirectoryRemountedReadOnlyFailsNamingThePathAndTheRunGoesOnOnceItIsWritable() throws Exception {
        Path mount = mountTmpfs(64L << 20);
        try (FileSystemObjectStore disk = new FileSystemObjectStore(mount.resolve("store"));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk).keepLast(3)).build())) {
            cp.save(1, state(1)).done().get(WAIT_SECONDS, TimeUnit.SECONDS);
            cp.save(2, state(2)).done().get(WAIT_SECONDS, TimeUnit.SECONDS);
            byte[] manifest2 = bytes(disk, LAYOUT.manifestKey(2));

            tmpfs.readOnly();
            CheckpointException e = failure(cp.save(3, state(3)).done());
            assertEquals(CheckpointException.Reason.STORAGE, e.reason());
            assertTrue(e.getMessage().contains(mount.toString()), "names the path: " + e.getMessage());
            assertTrue(e.getMessage().contains("Read-only file system"), "says why: " + e.getMessage());

            assertEquals(List.of(2L, 1L), steps(cp), "nothing committed is lost, nothing partial is listed");
            assertTrue(java.util.Arrays.equals(manifest2, bytes(disk, LAYOUT.manifestKey(2))), "step 2's MANIFEST unchanged");
            assertSameState(state(2), cp.restore(RestoreRequest.latest()).state());
            assertSameState(state(1), cp.restore(RestoreRequest.step(1)).state());

            tmpfs.readWrite();
            cp.save(4, state(4)).done().get(WAIT_SECONDS, TimeUnit.SECONDS);
            assertEquals(List.of(4L, 2L, 1L), steps(cp));
            assertSameState(state(4), cp.restore(RestoreRequest.latest()).state());
            assertSameState(state(2), cp.restore(RestoreRequest.step(2)).state());
        }
        // And a fresh process (here: a fresh checkpointer) sees the same.
        try (FileSystemObjectStore disk = new FileSystemObjectStore(mount.resolve("store"));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk).keepLast(3)).build())) {
            assertEquals(List.of(4L, 2L, 1L), steps(cp));
            assertSameState(state(1), cp.restore(RestoreRequest.step(1)).state());
        }
    }

    @Test
    void aPromotionToADirectoryRemountedReadOnlyFailsNamingThePathWhileTheMemoryTierCommits() throws Exception {
        Path mount = mountTmpfs(64L << 20);
        try (MemoryObjectStore memory = new MemoryObjectStore(256L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(mount.resolve("store"));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("memory", memory).keepLast(3))
                     .tier(TierConfig.of("disk", disk).keepLast(3)).build())) {
            cp.save(1, state(1)).done().get(WAIT_SECONDS, TimeUnit.SECONDS);

            tmpfs.readOnly();
            dev.cairn.CheckpointHandle h = cp.save(2, state(2));
            h.committed("memory").get(WAIT_SECONDS, TimeUnit.SECONDS);
            CheckpointException e = failure(h.committed("disk"));
            assertTrue(e.getMessage().contains(mount.toString()) && e.getMessage().contains("Read-only file system"),
                    e.getMessage());
            try (FileSystemObjectStore alone = new FileSystemObjectStore(mount.resolve("store"));
                 Checkpointer diskOnly = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", alone).keepLast(3)).build())) {
                assertEquals(List.of(1L), steps(diskOnly), "the disk holds step 1 only, whole");
                assertSameState(state(1), diskOnly.restore(RestoreRequest.latest()).state());
            }

            tmpfs.readWrite();
            cp.save(3, state(3)).done().get(WAIT_SECONDS, TimeUnit.SECONDS);
            try (FileSystemObjectStore alone = new FileSystemObjectStore(mount.resolve("store"));
                 Checkpointer diskOnly = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", alone).keepLast(3)).build())) {
                assertEquals(List.of(3L, 1L), steps(diskOnly));
                assertSameState(state(3), diskOnly.restore(RestoreRequest.latest()).state());
                assertSameState(state(1), diskOnly.restore(RestoreRequest.step(1)).state());
            }
        }
    }

    // ---- no space left -------------------------------------------------------------------------------------------

    @Test
    void aSaveThatFillsTheDiskFailsNamingThePathAndThePreviousCheckpointStillRestores() throws Exception {
        // Step 1 (about 0.45 MiB of random bytes) fits in 2 MiB; step 2 adds a 2 MiB tensor, which cannot.
        Path mount = mountTmpfs(2L << 20);
        try (FileSystemObjectStore disk = new FileSystemObjectStore(mount.resolve("store"));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk).keepLast(3)).build())) {
            cp.save(1, state(1)).done().get(WAIT_SECONDS, TimeUnit.SECONDS);
            TrainingState big = TrainingState.builder().add(randomTensor("w", DType.F32, 60_000, 102))
                    .add(randomTensor("huge", DType.F32, 512 << 10, 5)).build();

            CheckpointException e = failure(cp.save(2, big).done());
            assertEquals(CheckpointException.Reason.STORAGE, e.reason());
            assertTrue(e.getMessage().contains(mount.toString()), "names the path: " + e.getMessage());
            assertTrue(e.getMessage().contains("No space left on device"), "says why: " + e.getMessage());

            assertEquals(List.of(1L), steps(cp), "nothing partial is listed");
            assertSameState(state(1), cp.restore(RestoreRequest.latest()).state());
            try (Stream<Path> files = Files.walk(mount)) {
                assertTrue(files.noneMatch(p -> p.getFileName().toString().startsWith(".tmp-")), "no temporary file is left");
            }

            // What the failed save did write is garbage, which GC takes; then a save that fits commits.
            cp.gc(false);
            cp.save(3, state(3)).done().get(WAIT_SECONDS, TimeUnit.SECONDS);
            assertEquals(List.of(3L, 1L), steps(cp));
            assertSameState(state(3), cp.restore(RestoreRequest.latest()).state());
            assertSameState(state(1), cp.restore(RestoreRequest.step(1)).state());
        }
    }

    private static CheckpointException failure(java.util.concurrent.CompletableFuture<?> f) throws Exception {
        ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(WAIT_SECONDS, TimeUnit.SECONDS));
        assertTrue(e.getCause() instanceof CheckpointException, () -> "a CheckpointException: " + e.getCause());
        return (CheckpointException) e.getCause();
    }

    private static List<Long> steps(Checkpointer cp) {
        return cp.list().stream().map(CheckpointInfo::step).toList();
    }

    private static byte[] bytes(dev.cairn.ObjectStore store, String key) throws Exception {
        java.nio.ByteBuffer b = store.readAll(key);
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }
}
