package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointAdmin;
import dev.cairn.CheckpointAdmin.StepCheck;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.ShardSpec;
import dev.cairn.StoreRef;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Format 5 through the engine: three ranks save ninety sharded tensors each, so the MANIFEST's directory has pages;
 * each rank restores bit-exact; a page replaced after the commit is refused, naming it, by a rank that needs it and by
 * verify; retention removes a step's pages with it.
 */
class PagedDirectoryTest {
    private static final String RUN = "paged";
    private static final int WORLD = 3;
    private static final int TENSORS = 90;
    private static final long[] GLOBAL = {30, 16};
    private final ObjectStore store = new MemoryObjectStore(64L << 20);
    private final StoreLayout layout = new StoreLayout(RUN);

    @AfterEach
    void close() throws Exception {
        store.close();
    }

    private Checkpointer open(int rank, int world, int keepLast) {
        return Checkpointer.open(CairnConfig.builder(RUN).chunkBytes(4096).encoderThreads(1)
                .stagingBytes(CairnConfig.minimumStagingBytes(4096, 1)).gcGrace(Duration.ofMinutes(10))
                .deadline(Duration.ofSeconds(30)).rank(rank, world).tier(TierConfig.of("mem", store).keepLast(keepLast)).build());
    }

    static TrainingState state(int rank, long step) {
        TrainingState.Builder b = TrainingState.builder();
        for (int t = 0; t < TENSORS; t++) {
            ShardSpec s = ShardSpec.split(GLOBAL, 0, WORLD, rank);
            ByteBuffer w = ByteBuffer.allocateDirect((int) (s.lengths()[0] * GLOBAL[1] * 4)).order(ByteOrder.LITTLE_ENDIAN);
            SplittableRandom r = new SplittableRandom(step * 1000 + t * 100 + rank);
            while (w.hasRemaining()) {
                w.putFloat((float) r.nextDouble());
            }
            b.add(Tensor.sharded("t" + t, DType.F32, s, w.flip()));
        }
        return b.add(dev.cairn.Blob.perRank("rng", new byte[] {(byte) rank, (byte) step}))
                .add(dev.cairn.Blob.ofUtf8("config", "step=" + step)).build();
    }

    private void save(long step, int keepLast) throws Exception {
        List<Checkpointer> ranks = new ArrayList<>();
        try {
            for (int r = 0; r < WORLD; r++) {
                ranks.add(open(r, WORLD, keepLast));
            }
            List<CheckpointHandle> handles = new ArrayList<>();
            for (int r = 0; r < WORLD; r++) {
                handles.add(ranks.get(r).save(step, state(r, step)));
            }
            for (CheckpointHandle h : handles) {
                h.done().get(60, TimeUnit.SECONDS);
            }
        } finally {
            ranks.forEach(Checkpointer::close);
        }
    }

    private static void assertRestored(TrainingState expected, TrainingState restored) {
        for (int t = 0; t < TENSORS; t++) {
            assertEquals(ReshardingProperties.concat(expected.tensor("t" + t)), ReshardingProperties.concat(restored.tensor("t" + t)),
                    "t" + t);
            assertEquals(expected.tensor("t" + t).shard(), restored.tensor("t" + t).shard());
        }
        assertEquals(ByteBuffer.wrap(expected.blob("rng").toByteArray()), ByteBuffer.wrap(restored.blob("rng").toByteArray()));
        assertEquals(expected.blob("config").toUtf8(), restored.blob("config").toUtf8());
    }

    private Manifest manifest(long step) throws Exception {
        try (RootAllocator a = new RootAllocator()) {
            return ManifestFormat.read(store.readAll(layout.manifestKey(step)), "MANIFEST", a);
        }
    }

    private List<String> pageKeys(long step) throws Exception {
        Manifest m = manifest(step);
        return m.indexed().pages().keys(layout, step);
    }

    @Test
    void aStepOfThreeRanksHasPagesAndEachRankRestoresBitExact() throws Exception {
        save(1, 5);
        Manifest m = manifest(1);
        assertEquals(5, m.formatVersion());
        assertTrue(m.paged() && m.entries().isEmpty(), "the MANIFEST lists no entry itself");
        assertEquals(WORLD * (TENSORS + 2), m.entryCount(), "every rank's tensors, its rng and its copy of config");
        List<String> pages = pageKeys(1);
        assertFalse(pages.isEmpty(), "276 entry rows, more than a MANIFEST holds: a level of pages");
        for (String key : pages) {
            store.stat(key);
        }
        for (int r = 0; r < WORLD; r++) {
            try (Checkpointer cp = open(r, WORLD, 5)) {
                assertRestored(state(r, 1), cp.restore(RestoreRequest.latest()).state());
            }
        }
        try (Checkpointer two = open(1, 2, 5)) { // resharded: rows 15..29 of t3 from ranks 1 and 2
            Tensor t = Tensor.allocate("t3", DType.F32, ShardSpec.split(GLOBAL, 0, 2, 1));
            two.restore(RestoreRequest.latest().into(TrainingState.builder().add(t).build())
                    .onRankBlobs((name, saved, savedWorld, rank, world) -> null));
            ByteBuffer expected = ByteBuffer.allocate((int) t.byteSize());
            ByteBuffer r1 = ReshardingProperties.concat(state(1, 1).tensor("t3"));
            ByteBuffer r2 = ReshardingProperties.concat(state(2, 1).tensor("t3"));
            expected.put(r1.position(5 * 16 * 4)).put(r2).flip();
            assertEquals(expected, ReshardingProperties.concat(t));
        }
    }

    @Test
    void eachRankRestoresItsBlobsAloneFromAPagedStep() throws Exception {
        save(1, 5);
        for (int r = 0; r < WORLD; r++) {
            try (Checkpointer cp = open(r, WORLD, 5)) {
                TrainingState blobs = cp.restore(RestoreRequest.latest().blobsOnly()).state();
                assertEquals(java.util.Set.of("rng", "config"),
                        blobs.entries().stream().map(dev.cairn.Entry::name).collect(java.util.stream.Collectors.toSet()));
                assertEquals(ByteBuffer.wrap(new byte[] {(byte) r, 1}), ByteBuffer.wrap(blobs.blob("rng").toByteArray()));
                assertEquals("step=1", blobs.blob("config").toUtf8());
            }
        }
    }

    /**
     * What a restarted rank's chunk catalog is seeded from (NewestCommittedRows): its own rows of the newest step with
     * their chunks. In format 5 those rows, and the reference to its index, are in the pages: read before the index.
     */
    @Test
    void oneRanksRowsOfAPagedStepComeWithTheirChunks() throws Exception {
        save(1, 5);
        try (RootAllocator a = new RootAllocator()) {
            dev.cairn.tiers.internal.manifest.CommittedManifest loader = new dev.cairn.tiers.internal.manifest.CommittedManifest(
                    store, layout, "mem", (bytes, label) -> ManifestFormat.read(bytes, label, a), a);
            Manifest rank1 = loader.withRanks(manifest(1), java.util.Set.of(1));
            List<dev.cairn.tiers.internal.manifest.EntryRecord> own = rank1.entries().stream().filter(e -> e.rank() == 1).toList();
            assertEquals(TENSORS + 2, own.size(), "its tensors, its rng and its copy of config");
            assertTrue(own.stream().filter(e -> e.name().startsWith("t")).allMatch(e -> !e.chunks().isEmpty()),
                    "each tensor row carries its chunks");
        }
    }

    @Test
    void aPageReplacedAfterTheCommitIsRefusedByTheRankThatNeedsItAndByVerify() throws Exception {
        save(1, 5);
        save(2, 5);
        List<String> one = pageKeys(1);
        List<String> two = pageKeys(2);
        // Step 2's first page under step 1's first page's key: a valid page, but not the bytes step 1 committed.
        store.put(one.get(0), store.readAll(two.get(0)));
        try (Checkpointer rank0 = open(0, WORLD, 5)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> rank0.restore(RestoreRequest.step(1)));
            assertEquals(Reason.CORRUPT, e.reason(), e.getMessage());
            assertTrue(e.getMessage().contains(one.get(0)) && e.getMessage().contains("replaced after the commit"),
                    e.getMessage());
        }
        try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("mem", "m", store)))) {
            StepCheck check = admin.verify(RUN, List.of(1L), CheckpointAdmin.Progress.NONE).get(0);
            assertFalse(check.intact());
            assertTrue(check.manifestProblem().contains(one.get(0)), check.toString());
            assertTrue(admin.verify(RUN, List.of(2L), CheckpointAdmin.Progress.NONE).get(0).intact());
        }
    }

    @Test
    void retentionRemovesAStepsPagesWithIt() throws Exception {
        List<Checkpointer> ranks = new ArrayList<>();
        try {
            for (int r = 0; r < WORLD; r++) {
                ranks.add(open(r, WORLD, 1));
            }
            List<String> pages = new ArrayList<>();
            for (long step = 1; step <= 2; step++) {
                List<CheckpointHandle> handles = new ArrayList<>();
                for (int r = 0; r < WORLD; r++) {
                    handles.add(ranks.get(r).save(step, state(r, step)));
                }
                for (CheckpointHandle h : handles) {
                    h.done().get(60, TimeUnit.SECONDS);
                }
                if (step == 1) {
                    pages.addAll(pageKeys(1));
                }
            }
            // keepLast 1: rank 0's retention retires step 1 beside step 2's commit, in the background; 30 s is far
            // beyond a retirement of a few keys on a loaded machine.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            List<String> left = new ArrayList<>();
            do {
                left.clear();
                for (ObjectInfo o : store.list(layout.stepPrefix(1))) {
                    left.add(o.key());
                }
                if (left.stream().noneMatch(pages::contains)) {
                    break;
                }
                Thread.sleep(20);
            } while (System.nanoTime() < deadline);
            for (String key : pages) {
                assertFalse(left.contains(key), key + " outlived its step: " + left);
            }
            assertFalse(left.contains(layout.manifestKey(1)), left.toString());
            for (String key : pageKeys(2)) {
                store.stat(key);
            }
        } finally {
            ranks.forEach(Checkpointer::close);
        }
    }
}
