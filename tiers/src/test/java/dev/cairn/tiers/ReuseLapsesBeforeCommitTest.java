package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointAdmin;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.GcReport;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.ShardSpec;
import dev.cairn.StoreRef;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A save (or a promotion) counts on a chunk its tier already holds, without writing it, only while a collector in
 * another process ({@code cairn gc}, which cannot see this process's pins) keeps it: while the tier's newest committed
 * step names it, or while it is younger than half the grace ({@code SavePipeline#freshFor}). It decides that when it
 * encodes (or copies) the chunk, and either reason can lapse before its commit: a newer step commits that does not name
 * the chunk (content A, then B, then A again), or the save takes long enough for a recent chunk to grow older than the
 * grace. Before, the commit only asked whether the chunk was still there, so a collection that listed the steps just
 * before the MANIFEST and the chunks just after deleted it: a committed step that could not be restored. Now the
 * commit asks again, with the newest step and the time of the commit, and writes each lapsed chunk again as stored.
 *
 * <p>Each test runs the real collector ({@link CheckpointAdmin#gc}, the command line's code path) on a store of its own
 * over the tier's directory, as another process would, with the steps listed just before the MANIFEST's create and the
 * chunks just after it. Time is moved by moving the files' modification times back ({@link #pass}), never waited for.
 */
class ReuseLapsesBeforeCommitTest {
    private static final String RUN = "lapse";
    private static final StoreLayout L = new StoreLayout(RUN);
    private static final int CHUNK = 4096;
    /** The run's gcGrace and the collector's grace: chunks may be counted on while younger than 5 minutes. */
    private static final Duration GRACE = CairnConfig.DEFAULT_GC_GRACE;

    @TempDir
    Path dir;

    private Path disk() {
        return dir.resolve("disk");
    }

    /** Four chunks of one tensor: chunk 0 is {@code first}'s, chunk 3 {@code last}'s, chunks 1 and 2 the same. */
    private static byte[] weights(long seed, int first, int last) {
        byte[] b = new byte[4 * CHUNK];
        new Random(seed).nextBytes(b);
        b[7] = (byte) first;
        b[3 * CHUNK + 7] = (byte) last;
        return b;
    }

    private static ByteBuffer direct(byte[] bytes) {
        return ByteBuffer.allocateDirect(bytes.length).put(bytes).flip();
    }

    private static TrainingState state(int first, int last) {
        return TrainingState.builder().tensor("w", DType.F32, new long[] {CHUNK}, direct(weights(1, first, last))).build();
    }

    private static CairnConfig.Builder base() {
        return CairnConfig.builder(RUN).chunkBytes(CHUNK).encoderThreads(1).stagingBytes(16L << 20).gcGrace(GRACE)
                .gcSweepEvery(0).deadline(Duration.ofSeconds(60));
    }

    private static CairnConfig config(ObjectStore store, int keepLast) {
        return base().tier(TierConfig.of("disk", store).keepLast(keepLast)).build();
    }

    /**
     * Time passes: every file of the tier's directory grows {@code d} older. A writer may rename files meanwhile (a
     * put's temporary file onto its key): a file gone is left out, and a directory gone too.
     */
    private void pass(Duration d) throws IOException {
        Files.walkFileTree(disk(), new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) throws IOException {
                try {
                    Files.setLastModifiedTime(f, FileTime.from(Files.getLastModifiedTime(f).toInstant().minus(d)));
                } catch (NoSuchFileException renamed) {
                    // left out
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path f, IOException e) throws IOException {
                if (e instanceof NoSuchFileException) {
                    return FileVisitResult.CONTINUE;
                }
                throw e;
            }
        });
    }

    private static Set<String> chunkKeys(ObjectStore store) throws IOException {
        Set<String> keys = new HashSet<>();
        for (ObjectInfo o : store.list(L.chunksPrefix())) {
            keys.add(o.key());
        }
        return keys;
    }

    private void saveAlone(long step, TrainingState state) throws Exception {
        try (FileSystemObjectStore fs = new FileSystemObjectStore(disk());
             Checkpointer cp = Checkpointer.open(config(fs, 100))) {
            cp.save(step, state).done().get(60, TimeUnit.SECONDS);
        }
    }

    /**
     * The chunks of {@code state} saved as {@code step} that the tier does not hold yet (found by a save of it into a
     * scratch store); {@code leave} puts them into the tier, as a save that died before its commit leaves them.
     */
    private Set<String> chunksNotHeld(long step, TrainingState state, boolean leave) throws Exception {
        Path scratch = Files.createTempDirectory(dir, "scratch");
        try (FileSystemObjectStore other = new FileSystemObjectStore(scratch);
             FileSystemObjectStore fs = new FileSystemObjectStore(disk())) {
            try (Checkpointer cp = Checkpointer.open(config(other, 100))) {
                cp.save(step, state).done().get(60, TimeUnit.SECONDS);
            }
            Set<String> keys = chunkKeys(other);
            keys.removeAll(chunkKeys(fs));
            if (leave) {
                for (String key : keys) {
                    fs.put(key, other.readAll(key));
                }
            }
            return keys;
        }
    }

    private static void await(CountDownLatch latch, String what) throws IOException {
        try {
            if (!latch.await(60, TimeUnit.SECONDS)) {
                throw new IOException("timed out waiting for " + what);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }

    /**
     * The collection of another process, keeping {@code keepLast} steps with the default grace, on its own store over
     * the tier's directory. Started by {@link #createBeside} within the create of a MANIFEST: it lists the steps before
     * the create and the chunks after it.
     */
    private final class Collector {
        final CountDownLatch stepsListed = new CountDownLatch(1);
        final CountDownLatch created = new CountDownLatch(1);
        final AtomicReference<Object> result = new AtomicReference<>();
        final Thread thread;

        Collector(int keepLast) {
            thread = new Thread(() -> {
                try (FileSystemObjectStore fs = new FileSystemObjectStore(disk())) {
                    ObjectStore watched = new ForwardingObjectStore(fs) {
                        @Override
                        public List<ObjectInfo> list(String prefix) throws IOException {
                            if (prefix.equals(L.chunksPrefix())) {
                                await(created, "the MANIFEST's create");
                            }
                            List<ObjectInfo> listed = delegate.list(prefix);
                            if (prefix.equals(L.stepsPrefix())) {
                                stepsListed.countDown();
                            }
                            return listed;
                        }
                    };
                    StoreRef ref = new StoreRef("disk", "disk", watched);
                    try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(ref))) {
                        result.set(admin.gc(ref, RUN, keepLast, GRACE, false));
                    }
                } catch (Throwable t) {
                    result.set(t);
                } finally {
                    stepsListed.countDown(); // a collection that failed early must not hold the commit up
                }
            }, "another-process-gc");
        }

        /** Creates {@code key} in {@code store}, the collection's steps listed before and its chunks after. */
        boolean createBeside(ObjectStore store, String key, ByteBuffer data) throws IOException {
            thread.start();
            await(stepsListed, "the collection's listing of the steps");
            try {
                return store.putIfAbsent(key, data);
            } finally {
                created.countDown();
            }
        }

        /** Waits for the collection to end (a writer's retention that would retire a step it reads waits here). */
        void awaitEnd() throws IOException {
            try {
                thread.join(TimeUnit.SECONDS.toMillis(60));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            }
        }

        GcReport report() throws IOException {
            awaitEnd();
            assertTrue(result.get() instanceof GcReport, "the collection ran: " + result.get());
            return (GcReport) result.get();
        }
    }

    private void assertRestores(long step, TrainingState expected) throws Exception {
        try (FileSystemObjectStore fs = new FileSystemObjectStore(disk());
             Checkpointer cp = Checkpointer.open(config(fs, 100))) {
            assertSameState(expected, cp.restore(RestoreRequest.step(step)).state());
        }
    }

    /**
     * keepLast 1. Step 1 (A: chunks x, s1, s2, a3), an hour old. Save 2 (B: y, s1, s2, a3) and save 3 (C: x, s1, s2,
     * c3) in flight together: save 3 counts on x, which step 1, the newest, names. Step 2 commits and retires step 1;
     * the collection lists the steps (step 2) before MANIFEST 3 and the chunks after it: x, an hour old and named by
     * no step it saw, was deleted after step 3 committed naming it.
     *
     * <p>Step 2 must commit first: y and c3, the one chunk each save writes, are written on two I/O threads at once,
     * and a save commits once its last chunk is written, so step 3 could otherwise commit before step 2. Then the
     * collection sees step 3 alone and deletes a3, which save 2 counts on because step 1 named it: save 2 fails with
     * STORAGE at its confirmation, or, where a3 is deleted just after save 2 wrote it again, commits naming it (the
     * windows {@code ChunkConfirmation} names). So c3 is written only once step 2's commit has an outcome.
     */
    @Test
    void aChunkCountedOnBecauseTheNewestStepNamedItIsWrittenAgainOnceANewerStepDoesNot() throws Exception {
        saveAlone(1, state(1, 1));
        pass(Duration.ofHours(1));
        Set<String> c3 = chunksNotHeld(3, state(1, 2), false);
        assertEquals(1, c3.size(), "C differs from A in its last chunk alone");
        Collector collector = new Collector(1);
        CountDownLatch save3Decided = new CountDownLatch(1);
        CountDownLatch step2Settled = new CountDownLatch(1);
        try (FileSystemObjectStore fs = new FileSystemObjectStore(disk())) {
            ObjectStore writer = new ForwardingObjectStore(fs) {
                @Override
                public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
                    if (c3.contains(key)) {
                        // One encoder, in chunk order: save 3 decided to count on its chunk 0 (x) before this.
                        save3Decided.countDown();
                        // Save 3 commits once c3 is written: not before step 2 (see above). Step 2's commit was
                        // queued to the tier's I/O threads before this write, so it does not wait for this thread.
                        await(step2Settled, "step 2's commit");
                    } else if (key.equals(L.manifestKey(2))) {
                        await(save3Decided, "save 3's encoding");
                    } else if (key.equals(L.manifestKey(3))) {
                        return collector.createBeside(delegate, key, data);
                    }
                    return delegate.putIfAbsent(key, data);
                }

                @Override
                public void delete(String key) throws IOException {
                    if (key.equals(L.manifestKey(2))) {
                        collector.awaitEnd(); // retention after step 3, once the collection has read step 2
                    }
                    delegate.delete(key);
                }
            };
            try (Checkpointer cp = Checkpointer.open(config(writer, 1))) {
                CheckpointHandle two = cp.save(2, state(2, 1));
                two.committed("disk").whenComplete((r, e) -> step2Settled.countDown());
                CheckpointHandle three = cp.save(3, state(1, 2));
                two.done().get(60, TimeUnit.SECONDS);
                three.done().get(60, TimeUnit.SECONDS);
            }
        }
        GcReport report = collector.report();
        assertEquals(0, report.chunksDeleted(), "nothing the collection saw was unused and old: " + report);
        assertRestores(3, state(1, 2));
    }

    /**
     * Step 1 (A), an hour old; y, B's first chunk, left 4 minutes ago by a save that died. Save 2 (B) counts on y,
     * recent then; by its commit 7 minutes have passed. The collection (the default grace, 10 minutes) lists the steps
     * (step 1) before MANIFEST 2 and the chunks after it: y, 11 minutes old and named by no step it saw, was deleted.
     */
    @Test
    void aChunkCountedOnBecauseItWasRecentIsWrittenAgainOnceTheSaveOutlastedThat() throws Exception {
        saveAlone(1, state(1, 1));
        pass(Duration.ofHours(1));
        Set<String> y = chunksNotHeld(2, state(2, 1), true);
        assertEquals(1, y.size());
        pass(Duration.ofMinutes(4));
        Collector collector = new Collector(100);
        Set<String> writtenAfterIndex = ConcurrentHashMap.newKeySet();
        AtomicBoolean indexed = new AtomicBoolean();
        try (FileSystemObjectStore fs = new FileSystemObjectStore(disk())) {
            ObjectStore writer = new ForwardingObjectStore(fs) {
                @Override
                public void put(String key, ByteBuffer data) throws IOException {
                    if (indexed.get() && key.startsWith(L.chunksPrefix())) {
                        writtenAfterIndex.add(key);
                    }
                    delegate.put(key, data);
                    if (key.equals(L.indexKey(2, 0))) {
                        indexed.set(true);
                        pass(Duration.ofMinutes(7)); // the save took that long since it found y
                    }
                }

                @Override
                public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
                    if (key.equals(L.manifestKey(2))) {
                        return collector.createBeside(delegate, key, data);
                    }
                    return delegate.putIfAbsent(key, data);
                }
            };
            try (Checkpointer cp = Checkpointer.open(config(writer, 100))) {
                cp.save(2, state(2, 1)).done().get(60, TimeUnit.SECONDS);
            }
        }
        GcReport report = collector.report();
        assertEquals(0, report.chunksDeleted(), "nothing the collection saw was unused and old: " + report);
        assertEquals(y, writtenAfterIndex, "y alone written again: s1, s2 and a3 are an hour old, named by step 1");
        assertRestores(2, state(2, 1));
    }

    /**
     * The same with a promotion from a tier in memory to the disk: it finds y stored in the disk tier, 4 minutes old,
     * and counts on it; it writes b3 itself. By its commit in the disk tier 7 minutes have passed: y is written again,
     * b3, which the promotion wrote, is not (younger than the grace all the same).
     */
    @Test
    void aPromotionWritesAgainWhatItFoundStoredAndLapsedButNotWhatItWrote() throws Exception {
        TrainingState a = state(1, 1);
        TrainingState b = state(2, 3);
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore fs = new FileSystemObjectStore(disk());
             Checkpointer cp = Checkpointer.open(base().tier(TierConfig.of("mem", mem).keepLast(2))
                     .tier(TierConfig.of("disk", fs).keepLast(100)).build())) {
            cp.save(1, a).done().get(60, TimeUnit.SECONDS);
        }
        pass(Duration.ofHours(1));
        Set<String> y = chunksNotHeld(2, state(2, 1), true);
        assertEquals(1, y.size());
        pass(Duration.ofMinutes(4));
        Collector collector = new Collector(100);
        Set<String> writtenAfterIndex = ConcurrentHashMap.newKeySet();
        AtomicBoolean indexed = new AtomicBoolean();
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore fs = new FileSystemObjectStore(disk())) {
            ObjectStore writer = new ForwardingObjectStore(fs) {
                @Override
                public void put(String key, ByteBuffer data) throws IOException {
                    if (indexed.get() && key.startsWith(L.chunksPrefix())) {
                        writtenAfterIndex.add(key);
                    }
                    delegate.put(key, data);
                    if (key.equals(L.indexKey(2, 0))) {
                        indexed.set(true);
                        pass(Duration.ofMinutes(7)); // the promotion took that long since it found y
                    }
                }

                @Override
                public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
                    if (key.equals(L.manifestKey(2))) {
                        return collector.createBeside(delegate, key, data);
                    }
                    return delegate.putIfAbsent(key, data);
                }
            };
            try (Checkpointer cp = Checkpointer.open(base().tier(TierConfig.of("mem", mem).keepLast(2))
                    .tier(TierConfig.of("disk", writer).keepLast(100)).build())) {
                CheckpointHandle h = cp.save(2, b);
                h.committed("disk").get(60, TimeUnit.SECONDS);
                h.done().get(60, TimeUnit.SECONDS);
            }
        }
        GcReport report = collector.report();
        assertEquals(0, report.chunksDeleted(), "nothing the collection saw was unused and old: " + report);
        assertEquals(y, writtenAfterIndex, "y alone written again: b3 is the promotion's own, s1 and s2 step 1's");
        assertRestores(2, b);
    }

    /** Rank {@code r}'s rows of a tensor of two rows, four chunks each: its chunk 0 is {@code version}'s. */
    private static TrainingState rankState(int r, int version) {
        ShardSpec s = ShardSpec.split(new long[] {2, CHUNK}, 0, 2, r);
        return TrainingState.builder().add(Tensor.sharded("w", DType.F32, s, direct(weights(10 + r, version, 0))))
                .build();
    }

    private static void saveRanks(ObjectStore[] stores, long step, int rankOneVersion) throws Exception {
        List<Checkpointer> ranks = new ArrayList<>();
        try {
            for (int r = 0; r < 2; r++) {
                // Nothing read ahead at open: the first save's catalog reads the same rank index, and a take of a read
                // ahead still in flight waited 30 s for it (ReadAheadRows), which made this test slow at random.
                ranks.add(Checkpointer.open(base().rank(r, 2).readRowsAhead(false)
                        .tier(TierConfig.of("disk", stores[r]).keepLast(100)).build()));
            }
            List<CheckpointHandle> handles = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                handles.add(ranks.get(r).save(step, rankState(r, r == 1 ? rankOneVersion : 1)));
            }
            for (CheckpointHandle h : handles) {
                h.done().get(60, TimeUnit.SECONDS);
            }
        } finally {
            ranks.forEach(Checkpointer::close);
        }
    }

    /**
     * Two ranks: each rank asks again for its own chunks right after their confirmation, before its index. Rank 1 counts
     * on y, its chunk left 4 minutes ago; by its confirmation 7 minutes have passed, and rank 0's MANIFEST comes later.
     */
    @Test
    void eachRankWritesAgainWhatLapsedBeforeItsIndex() throws Exception {
        try (FileSystemObjectStore zero = new FileSystemObjectStore(disk());
             FileSystemObjectStore one = new FileSystemObjectStore(disk())) {
            saveRanks(new ObjectStore[] {zero, one}, 1, 1);
        }
        pass(Duration.ofHours(1));
        Set<String> y;
        Path scratch = dir.resolve("scratch-ranks");
        try (FileSystemObjectStore zero = new FileSystemObjectStore(scratch);
             FileSystemObjectStore one = new FileSystemObjectStore(scratch);
             FileSystemObjectStore fs = new FileSystemObjectStore(disk())) {
            saveRanks(new ObjectStore[] {zero, one}, 2, 2);
            y = chunkKeys(zero);
            y.removeAll(chunkKeys(fs));
            for (String key : y) {
                fs.put(key, zero.readAll(key));
            }
        }
        assertEquals(1, y.size(), "rank 1's chunk 0 alone differs");
        pass(Duration.ofMinutes(4));
        Collector collector = new Collector(100);
        AtomicBoolean passed = new AtomicBoolean();
        try (FileSystemObjectStore zero = new FileSystemObjectStore(disk());
             FileSystemObjectStore one = new FileSystemObjectStore(disk())) {
            ObjectStore rankZero = new ForwardingObjectStore(zero) {
                @Override
                public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
                    if (key.equals(L.manifestKey(2))) {
                        return collector.createBeside(delegate, key, data);
                    }
                    return delegate.putIfAbsent(key, data);
                }
            };
            ObjectStore rankOne = new ForwardingObjectStore(one) {
                @Override
                public Map<String, ObjectInfo> statAll(Collection<String> keys) throws IOException {
                    if (keys.stream().anyMatch(y::contains) && passed.compareAndSet(false, true)) {
                        pass(Duration.ofMinutes(7)); // rank 1's save took that long since it found y
                    }
                    return super.statAll(keys);
                }
            };
            saveRanks(new ObjectStore[] {rankZero, rankOne}, 2, 2);
        }
        assertTrue(passed.get(), "rank 1 confirmed y");
        GcReport report = collector.report();
        assertEquals(0, report.chunksDeleted(), "nothing the collection saw was unused and old: " + report);
        try (FileSystemObjectStore fs = new FileSystemObjectStore(disk());
             CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("disk", "disk", fs)))) {
            List<CheckpointAdmin.StepCheck> checks = admin.verify(RUN, List.of(2L), CheckpointAdmin.Progress.NONE);
            assertEquals(1, checks.size());
            assertTrue(checks.get(0).intact(), "step 2 whole: " + checks.get(0));
        }
    }

    /**
     * Where nothing lapsed, the commit asks nothing more than before: chunks an hour old that the newest step names are
     * counted on and not read or written again, and nothing but the confirmation's stats reaches a chunk after the index.
     */
    @Test
    void oldChunksTheNewestStepNamesCostNoRequestAtTheCommit() throws Exception {
        saveAlone(1, state(1, 1));
        pass(Duration.ofHours(1));
        List<String> chunkRequests = new java.util.concurrent.CopyOnWriteArrayList<>();
        AtomicBoolean indexed = new AtomicBoolean();
        try (FileSystemObjectStore fs = new FileSystemObjectStore(disk())) {
            ObjectStore writer = new ForwardingObjectStore(fs) {
                @Override
                public void put(String key, ByteBuffer data) throws IOException {
                    if (indexed.get() && key.startsWith(L.chunksPrefix())) {
                        chunkRequests.add("put " + key);
                    }
                    delegate.put(key, data);
                    if (key.equals(L.indexKey(2, 0))) {
                        indexed.set(true);
                    }
                }

                @Override
                public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
                    if (indexed.get() && key.startsWith(L.chunksPrefix())) {
                        chunkRequests.add("create " + key);
                    }
                    return delegate.putIfAbsent(key, data);
                }

                @Override
                public int read(String key, long offset, ByteBuffer dst) throws IOException {
                    if (indexed.get() && key.startsWith(L.chunksPrefix())) {
                        chunkRequests.add("read " + key);
                    }
                    return delegate.read(key, offset, dst);
                }
            };
            try (Checkpointer cp = Checkpointer.open(config(writer, 100))) {
                cp.save(2, state(2, 1)).done().get(60, TimeUnit.SECONDS);
            }
        }
        assertTrue(indexed.get());
        assertEquals(List.of(), chunkRequests);
        assertRestores(2, state(2, 1));
    }
}
