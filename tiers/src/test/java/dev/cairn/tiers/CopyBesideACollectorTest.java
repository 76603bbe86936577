package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointAdmin;
import dev.cairn.CheckpointAdmin.CopyReport;
import dev.cairn.CheckpointAdmin.StepCheck;
import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.GcReport;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.StoreRef;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A copy of a step ({@code cairn restore --to}) into a store where a collection ({@code cairn gc}) runs beside it. The
 * target holds steps 1 and 2; the copied step 3 holds what step 1 held, so the copy finds step 1's chunks there and
 * counts on them. The collection keeps only step 2, so step 1's chunks are unused to it. It runs while the copy puts
 * its first index, after the chunks and before the MANIFEST. Before, the copy committed step 3 naming chunks the
 * collection had just deleted: a committed step that could not be restored, and the copy said it succeeded. (The copy
 * creates its indexes, create-only, or puts one over an uncommitted writer's: the collection runs at either.)
 */
class CopyBesideACollectorTest {
    private static final String RUN = "copygc";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    @TempDir
    Path dir;

    private static TrainingState state(long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 60_000, 100 + seed))
                .add(randomTensor("b", DType.F32, 1000, 7)).build();
    }

    private void save(Path store, long step, long seed) throws Exception {
        try (FileSystemObjectStore disk = new FileSystemObjectStore(store);
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).gcSweepEvery(0)
                     .tier(TierConfig.of("disk", disk).keepLast(10)).build())) {
            cp.save(step, state(seed)).done().join();
        }
    }

    /** The target, which runs {@code collection} once, just before the copy's first index reaches the store. */
    private static final class CollectedBeforeIndex extends ForwardingObjectStore {
        private final AtomicReference<Runnable> collection;

        CollectedBeforeIndex(FileSystemObjectStore target, Runnable collection) {
            super(target);
            this.collection = new AtomicReference<>(collection);
        }

        private void before(String key) {
            if (key.equals(LAYOUT.indexKey(3, 0))) {
                Runnable c = collection.getAndSet(null);
                if (c != null) {
                    c.run();
                }
            }
        }

        @Override
        public void put(String key, ByteBuffer data) throws IOException {
            before(key);
            super.put(key, data);
        }

        @Override
        public boolean putIfAbsent(String key, ByteBuffer data) throws IOException { // the copy creates its indexes
            before(key);
            return super.putIfAbsent(key, data);
        }
    }

    /** Steps 1 (content 1) and 2 in the target, written {@code age} ago; step 3 (content 1 again) in the source. */
    private void prepare(Duration age) throws Exception {
        save(dir.resolve("target"), 1, 1);
        save(dir.resolve("target"), 2, 2);
        save(dir.resolve("source"), 3, 1);
        age(age);
    }

    private void age(Duration age) throws Exception {
        FileTime then = FileTime.from(Instant.now().minus(age));
        try (Stream<Path> files = Files.walk(dir.resolve("target"))) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                Files.setLastModifiedTime(f, then);
            }
        }
    }

    /**
     * Chunks an hour old that the target's newest step names are counted on, as a save counts on them (a collection
     * keeps the newest step whatever its chunks' age), and a copy run again over a committed step sends nothing: the
     * fix above must not make every copy resend what the target holds.
     */
    @Test
    void oldChunksTheTargetsNewestStepNamesAreCountedOnAndARerunSendsNothing() throws Exception {
        save(dir.resolve("target"), 1, 1);
        save(dir.resolve("source"), 3, 1); // the same content as the target's step 1
        age(Duration.ofHours(1));
        CopyReport copy = copyBesideCollection(CairnConfig.DEFAULT_GC_GRACE, new AtomicReference<>());
        assertEquals(0, copy.chunksCopied(), "every chunk is step 1's, the target's newest");
        age(Duration.ofHours(1));
        CopyReport again = copyBesideCollection(CairnConfig.DEFAULT_GC_GRACE, new AtomicReference<>());
        assertTrue(again.alreadyCommitted());
        assertEquals(0, again.chunksCopied(), "a rerun over the committed step checks and sends nothing");
        assertRestores(3, 1);
    }

    /** Copies step 3 from the source into the target while a collection keeping one step runs with {@code grace}. */
    private CopyReport copyBesideCollection(Duration grace, AtomicReference<GcReport> collected) throws Exception {
        try (FileSystemObjectStore source = new FileSystemObjectStore(dir.resolve("source"));
             FileSystemObjectStore target = new FileSystemObjectStore(dir.resolve("target"));
             CheckpointAdmin collector = CheckpointAdmin.open(List.of(new StoreRef("target", "target", target)));
             CollectedBeforeIndex watched = new CollectedBeforeIndex(target, () -> {
                 try {
                     collected.set(collector.gc(new StoreRef("target", "target", target), RUN, 1, grace, false));
                 } catch (IOException e) {
                     throw new UncheckedIOException(e);
                 }
             });
             CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("source", "source", source)))) {
            return admin.copy(RUN, 3, new StoreRef("target", "target", watched), 2, CheckpointAdmin.Progress.NONE);
        }
    }

    private void assertRestores(long step, long seed) throws Exception {
        try (FileSystemObjectStore target = new FileSystemObjectStore(dir.resolve("target"));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).gcSweepEvery(0)
                     .tier(TierConfig.of("disk", target).keepLast(10)).build())) {
            assertSameState(state(seed), cp.restore(RestoreRequest.step(step)).state());
        }
    }

    @Test
    void chunksTheTargetWroteLongAgoAreSentAgainSoACollectionWithTheDefaultGraceKeepsThem() throws Exception {
        prepare(Duration.ofHours(1));
        AtomicReference<GcReport> collected = new AtomicReference<>();
        CopyReport copy = copyBesideCollection(CairnConfig.DEFAULT_GC_GRACE, collected);
        assertEquals(List.of(1L), collected.get().stepsRetired(), "the collection ran beside the copy");
        // w's chunks, an hour old and named by step 1 alone, are sent again; b's one chunk, which step 2 (the newest)
        // names too, is counted on.
        assertEquals(copy.chunks() - 1, copy.chunksCopied(), "step 1's own chunks sent again, b's counted on");
        assertFalse(copy.alreadyCommitted());
        assertRestores(3, 1);
    }

    /**
     * A collection with a grace shorter than the copy deletes, after the copy found them, chunks the copy counts on:
     * the copy asks the target for every chunk right before its MANIFEST, sends again those that are gone, and commits
     * a step that restores. (Before the copy asked only for those it skipped, and failed the copy with STORAGE, which
     * a run again, beside the same collection, failed again.)
     */
    /**
     * The copy counts on step 1's chunks in the target because they are recent (4 minutes old), but by its MANIFEST 7
     * more minutes have passed. A collection (keeping one step, the default grace) lists the steps just before the
     * MANIFEST's create and the chunks just after it: before, it deleted those chunks, 11 minutes old and named by no
     * step it kept, once the copy had committed step 3 naming them (a step that could not be restored). The copy now
     * asks again right before its MANIFEST and sends again, as the target holds it, each chunk that is old by then and
     * that the target's newest step does not name.
     */
    @Test
    void chunksTheCopyCountedOnWhileRecentAreSentAgainOnceTheCopyOutlastedThat() throws Exception {
        prepare(Duration.ofMinutes(4));
        CountDownLatch stepsListed = new CountDownLatch(1);
        CountDownLatch created = new CountDownLatch(1);
        AtomicReference<Object> collected = new AtomicReference<>();
        Thread collection = new Thread(() -> {
            try (FileSystemObjectStore other = new FileSystemObjectStore(dir.resolve("target"))) {
                ObjectStore watched = new ForwardingObjectStore(other) {
                    @Override
                    public List<ObjectInfo> list(String prefix) throws IOException {
                        if (prefix.equals(LAYOUT.chunksPrefix())) {
                            await(created);
                        }
                        List<ObjectInfo> listed = delegate.list(prefix);
                        if (prefix.equals(LAYOUT.stepsPrefix())) {
                            stepsListed.countDown();
                        }
                        return listed;
                    }
                };
                StoreRef ref = new StoreRef("target", "target", watched);
                try (CheckpointAdmin collector = CheckpointAdmin.open(List.of(ref))) {
                    collected.set(collector.gc(ref, RUN, 1, CairnConfig.DEFAULT_GC_GRACE, false));
                }
            } catch (Throwable t) {
                collected.set(t);
            } finally {
                stepsListed.countDown();
            }
        }, "another-process-gc");
        AtomicBoolean indexed = new AtomicBoolean();
        try (FileSystemObjectStore source = new FileSystemObjectStore(dir.resolve("source"));
             FileSystemObjectStore target = new FileSystemObjectStore(dir.resolve("target"));
             CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("source", "source", source)))) {
            ObjectStore watched = new ForwardingObjectStore(target) {
                @Override
                public void put(String key, ByteBuffer data) throws IOException {
                    if (key.equals(LAYOUT.indexKey(3, 0)) && indexed.compareAndSet(false, true)) {
                        olderChunks(Duration.ofMinutes(7)); // the copy took that long since it found them
                    }
                    delegate.put(key, data);
                }

                @Override
                public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
                    if (key.equals(LAYOUT.indexKey(3, 0)) && indexed.compareAndSet(false, true)) {
                        olderChunks(Duration.ofMinutes(7)); // the copy took that long since it found them
                    }
                    if (!key.equals(LAYOUT.manifestKey(3))) {
                        return delegate.putIfAbsent(key, data);
                    }
                    collection.start();
                    await(stepsListed);
                    try {
                        return delegate.putIfAbsent(key, data);
                    } finally {
                        created.countDown();
                    }
                }
            };
            CopyReport copy = admin.copy(RUN, 3, new StoreRef("target", "target", watched), 2,
                    CheckpointAdmin.Progress.NONE);
            assertEquals(0, copy.chunksCopied(), "every chunk counted on: recent, or named by step 2");
        }
        collection.join(TimeUnit.SECONDS.toMillis(60));
        assertTrue(collected.get() instanceof GcReport, "the collection ran: " + collected.get());
        GcReport report = (GcReport) collected.get();
        assertEquals(List.of(1L), report.stepsRetired());
        assertEquals(0, report.chunksDeleted(), "nothing it saw unused was old: " + report);
        assertRestores(3, 1);
    }

    /** Every chunk file of the target grows {@code d} older. */
    private void olderChunks(Duration d) throws IOException {
        try (Stream<Path> files = Files.walk(dir.resolve("target").resolve(LAYOUT.chunksPrefix()))) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                Files.setLastModifiedTime(f, FileTime.from(Files.getLastModifiedTime(f).toInstant().minus(d)));
            }
        }
    }

    private static void await(CountDownLatch latch) throws IOException {
        try {
            if (!latch.await(60, TimeUnit.SECONDS)) {
                throw new IOException("timed out");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }

    @Test
    void aChunkACollectionDeletesAfterTheCopyFoundItIsSentAgainBeforeTheManifest() throws Exception {
        prepare(Duration.ZERO); // recent: the copy counts on them
        AtomicReference<GcReport> collected = new AtomicReference<>();
        CopyReport copy = copyBesideCollection(Duration.ZERO, collected); // a grace shorter than the copy
        assertTrue(collected.get().chunksDeleted() > 0, "the collection deleted step 1's chunks: " + collected.get());
        assertFalse(copy.alreadyCommitted());
        assertEquals(copy.chunks() - 1, copy.chunksCopied(), "w's chunks, deleted, sent again; b's, step 2's too, kept");
        assertRestores(3, 1);
    }

    /**
     * The copy's own chunks, older than the default grace by the time the copy reaches its indexes (a copy of tens of
     * gigabytes; simulated by their age), deleted by a collection with the default grace beside it: sent again before
     * the MANIFEST. Before, the copy asked only for the chunks it had skipped, and committed a step whose chunks were
     * gone.
     */
    @Test
    void chunksOfACopyLongerThanTheGraceThatACollectionDeletedAreSentAgain() throws Exception {
        save(dir.resolve("source"), 3, 1);
        AtomicReference<GcReport> collected = new AtomicReference<>();
        CopyReport copy;
        try (FileSystemObjectStore source = new FileSystemObjectStore(dir.resolve("source"));
             FileSystemObjectStore target = new FileSystemObjectStore(dir.resolve("target"));
             CheckpointAdmin collector = CheckpointAdmin.open(List.of(new StoreRef("target", "target", target)));
             CollectedBeforeIndex watched = new CollectedBeforeIndex(target, () -> {
                 try {
                     age(Duration.ofMinutes(11));
                     collected.set(collector.gc(new StoreRef("target", "target", target), RUN, 3,
                             CairnConfig.DEFAULT_GC_GRACE, false));
                 } catch (Exception e) {
                     throw new IllegalStateException(e);
                 }
             });
             CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("source", "source", source)))) {
            copy = admin.copy(RUN, 3, new StoreRef("target", "target", watched), 2, CheckpointAdmin.Progress.NONE);
        }
        assertEquals(copy.chunks(), collected.get().chunksDeleted(), "the collection deleted every chunk the copy put");
        assertEquals(copy.chunks(), copy.chunksCopied());
        assertRestores(3, 1);
        try (FileSystemObjectStore target = new FileSystemObjectStore(dir.resolve("target"));
             CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("target", "target", target)))) {
            assertTrue(admin.verify(RUN, List.of(3L), CheckpointAdmin.Progress.NONE).get(0).intact());
        }
    }

    /**
     * A collection with no grace that runs each time the copy asks for its chunks deletes them each time: after a few
     * questions the copy fails with STORAGE, having committed nothing.
     */
    @Test
    void aCollectionThatDeletesEveryTimeTheCopyAsksFailsItUncommitted() throws Exception {
        save(dir.resolve("source"), 3, 1);
        List<GcReport> collections = new java.util.ArrayList<>();
        try (FileSystemObjectStore source = new FileSystemObjectStore(dir.resolve("source"));
             FileSystemObjectStore target = new FileSystemObjectStore(dir.resolve("target"));
             CheckpointAdmin collector = CheckpointAdmin.open(List.of(new StoreRef("target", "target", target)));
             ForwardingObjectStore watched = new ForwardingObjectStore(target) {
                 @Override
                 public java.util.Map<String, dev.cairn.ObjectInfo> statAll(java.util.Collection<String> keys)
                         throws IOException {
                     if (keys.stream().anyMatch(k -> LAYOUT.hashOfChunkKey(k) != null)) { // the copy asks for its chunks
                         collections.add(collector.gc(new StoreRef("target", "target", target), RUN, 3, Duration.ZERO,
                                 false));
                     }
                     return super.statAll(keys);
                 }
             };
             CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("source", "source", source)))) {
            CheckpointException failed = assertThrows(CheckpointException.class,
                    () -> admin.copy(RUN, 3, new StoreRef("target", "target", watched), 2, CheckpointAdmin.Progress.NONE));
            assertEquals(CheckpointException.Reason.STORAGE, failed.reason());
            assertTrue(failed.getMessage().contains("run the copy again"), failed.getMessage());
            assertEquals(3, collections.size(), "asked three times, sending what was gone in between");
            assertTrue(collections.stream().allMatch(c -> c.chunksDeleted() > 0), collections.toString());
            assertThrows(java.nio.file.NoSuchFileException.class, () -> target.stat(LAYOUT.manifestKey(3)),
                    "nothing committed");
        }
    }

    /**
     * A collection with the default grace runs when the copy first asks for its chunks, and everything the copy wrote
     * is older than the grace by then (simulated): it deletes the chunks, and the step's index too, taking the
     * uncommitted step for abandoned. The copy sends the chunks again and, as that took time, writes its index again
     * before it asks once more; the step it commits has its index.
     */
    @Test
    void anIndexACollectionTookForAbandonedIsWrittenAgainWithTheChunks() throws Exception {
        save(dir.resolve("source"), 3, 1);
        java.util.concurrent.atomic.AtomicBoolean first = new java.util.concurrent.atomic.AtomicBoolean(true);
        AtomicReference<GcReport> collected = new AtomicReference<>();
        java.util.concurrent.atomic.AtomicBoolean indexAtCommit = new java.util.concurrent.atomic.AtomicBoolean();
        try (FileSystemObjectStore source = new FileSystemObjectStore(dir.resolve("source"));
             FileSystemObjectStore target = new FileSystemObjectStore(dir.resolve("target"));
             CheckpointAdmin collector = CheckpointAdmin.open(List.of(new StoreRef("target", "target", target)));
             ForwardingObjectStore watched = new ForwardingObjectStore(target) {
                 @Override
                 public java.util.Map<String, dev.cairn.ObjectInfo> statAll(java.util.Collection<String> keys)
                         throws IOException {
                     if (keys.stream().anyMatch(k -> LAYOUT.hashOfChunkKey(k) != null) && first.getAndSet(false)) {
                         try {
                             age(Duration.ofMinutes(11));
                         } catch (Exception e) {
                             throw new IOException(e);
                         }
                         collected.set(collector.gc(new StoreRef("target", "target", target), RUN, 3,
                                 CairnConfig.DEFAULT_GC_GRACE, false));
                     }
                     return super.statAll(keys);
                 }

                 @Override
                 public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
                     if (key.equals(LAYOUT.manifestKey(3))) {
                         indexAtCommit.set(target.list(LAYOUT.indexKey(3, 0)).size() == 1);
                     }
                     return super.putIfAbsent(key, data);
                 }
             };
             CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("source", "source", source)))) {
            CopyReport copy = admin.copy(RUN, 3, new StoreRef("target", "target", watched), 2, CheckpointAdmin.Progress.NONE);
            assertEquals(List.of(3L), collected.get().stepsAbandoned(), "the collection took the step for abandoned");
            assertTrue(indexAtCommit.get(), "the index is there when the MANIFEST is created");
            assertEquals(copy.chunks(), collected.get().chunksDeleted());
        }
        assertRestores(3, 1);
        try (FileSystemObjectStore target = new FileSystemObjectStore(dir.resolve("target"));
             CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("target", "target", target)))) {
            StepCheck check = admin.verify(RUN, List.of(3L), CheckpointAdmin.Progress.NONE).get(0);
            assertTrue(check.intact(), "committed with its index: " + check);
        }
    }
}
