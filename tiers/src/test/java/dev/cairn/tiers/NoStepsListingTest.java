package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Issue 15: no process lists the steps prefix at open, at a restore of the newest step or at its saves, once the run's
 * steps are marked ({@code StepMarks}): a real multi-rank run (4 ranks meeting through the store) saves two steps, then
 * a new job of 4 ranks opens, restores the newest, and saves; and a job of 3 ranks (another world size, another
 * grouping) restores it. Each rank's LIST requests are counted by the prefix they list, listings of folders apart. Rank
 * 0's retention after its first commit in a process learns the tier's steps from group 0 of the marks, not from a
 * listing. No listing of the steps either by the clean-up each restoring rank of a multi-rank run makes to remove its
 * own indexes of steps after the restored one that never committed ({@code StaleIndexCleanUp}, beside the chunk
 * reads): it looks at the step folders, once a rank (a request per 1,000 steps, where a listing of the steps is one
 * per 1,000 keys: thousands of ranks each listed every rank's index of every step). Rank 0 cannot do it for every rank: ranks that train without a collective after their restore (the examples' ranks) may
 * write an index of the next step before rank 0's clean-up lists, and it would delete that new index.
 */
class NoStepsListingTest {
    private static final String RUN = "unlisted";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);
    private static final long[] GLOBAL = {48, 256};

    /** The steps marked in {@code store}, beside which only the record that the groups are complete lies. */
    private static List<Long> marks(ObjectStore store) throws IOException {
        List<Long> marked = new ArrayList<>();
        for (ObjectInfo o : store.list(LAYOUT.marksPrefix())) {
            if (!o.key().equals(LAYOUT.marksCompleteKey())) {
                marked.add(LAYOUT.stepOfMarkKey(o.key()).orElseThrow());
            }
        }
        return marked;
    }

    /** A store that counts, by prefix kind, the LIST requests made through it (made there: a listing, not its pages). */
    private static final class CountingLists extends ForwardingObjectStore {
        final Map<String, AtomicInteger> lists = new ConcurrentHashMap<>();

        CountingLists(ObjectStore store) {
            super(store);
        }

        @Override
        public List<ObjectInfo> list(String prefix) throws IOException {
            // "steps": the whole steps prefix; a listing of one step's keys (rank 0 gathering the step's indexes) apart.
            String kind = prefix.equals(LAYOUT.stepsPrefix()) ? "steps"
                    : prefix.startsWith(LAYOUT.stepsPrefix()) ? "one step's keys"
                    : prefix.startsWith(LAYOUT.chunksPrefix()) ? "chunks"
                    : prefix.startsWith(LAYOUT.marksPrefix()) ? "marks" : prefix;
            if (kind.equals("steps") && java.util.Arrays.stream(Thread.currentThread().getStackTrace())
                    .anyMatch(f -> f.getClassName().endsWith(".StaleIndexCleanUp"))) {
                kind = "steps, by the stale index clean-up";
            }
            lists.computeIfAbsent(kind, k -> new AtomicInteger()).incrementAndGet();
            return super.list(prefix);
        }

        /** Counted apart from listings of every key: "step folders" of the steps prefix, "mark groups" of the marks'. */
        @Override
        public List<String> listFolders(String prefix) throws IOException {
            String kind = prefix.equals(LAYOUT.stepsPrefix()) ? "step folders"
                    : prefix.equals(LAYOUT.marksPrefix()) ? "mark groups" : "folders of " + prefix;
            if (java.util.Arrays.stream(Thread.currentThread().getStackTrace())
                    .anyMatch(f -> f.getClassName().endsWith(".StaleIndexCleanUp"))) {
                kind += ", by the stale index clean-up";
            }
            lists.computeIfAbsent(kind, k -> new AtomicInteger()).incrementAndGet();
            return super.listFolders(prefix);
        }

        int of(String kind) {
            AtomicInteger n = lists.get(kind);
            return n == null ? 0 : n.get();
        }

        @Override
        public void close() {
            // the shared store is closed by the test
        }
    }

    private static Checkpointer rank(ObjectStore store, int r, int world) {
        return rank(store, r, world, Duration.ofSeconds(60));
    }

    private static Checkpointer rank(ObjectStore store, int r, int world, Duration deadline) {
        return Checkpointer.open(CairnConfig.builder(RUN).tier(TierConfig.of("shared", store).keepLast(2))
                .chunkBytes(4096).encoderThreads(1).stagingBytes(4L << 20).deadline(deadline)
                .gcSweepEvery(0).rank(r, world).build());
    }

    private static TrainingState state(int r, int world, long step) {
        return state(r, world, step, 0);
    }

    /** Rank {@code r}'s slice of the state at {@code step}; {@code attempt} tells two attempts of one step apart. */
    private static TrainingState state(int r, int world, long step, int attempt) {
        ShardSpec s = ShardSpec.split(GLOBAL, 0, world, r);
        ByteBuffer w = ByteBuffer.allocateDirect((int) (s.lengths()[0] * GLOBAL[1] * 4)).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; w.hasRemaining(); i++) {
            w.putFloat((float) (attempt * 10_000_000 + step * 100_000 + s.offsets()[0] * GLOBAL[1] + i));
        }
        return TrainingState.builder().add(Tensor.sharded("w", DType.F32, s, w.flip())).build();
    }

    private static TrainingState target(int r, int world) {
        ShardSpec s = ShardSpec.split(GLOBAL, 0, world, r);
        ByteBuffer w = ByteBuffer.allocateDirect((int) (s.lengths()[0] * GLOBAL[1] * 4)).order(ByteOrder.LITTLE_ENDIAN);
        return TrainingState.builder().add(Tensor.sharded("w", DType.F32, s, w)).build();
    }

    /** Saves {@code step} on every rank of {@code job} at once and waits for every commit. */
    private static void saveAll(List<Checkpointer> job, long step) throws Exception {
        List<CheckpointHandle> handles = new ArrayList<>();
        for (int r = 0; r < job.size(); r++) {
            handles.add(job.get(r).save(step, state(r, job.size(), step)));
        }
        for (CheckpointHandle h : handles) {
            h.done().get(60, TimeUnit.SECONDS); // generous: 4 ranks of one JVM on a shared 2-core machine
        }
    }

    /** Opens {@code world} ranks on {@code store}, saves {@code steps} on all of them, one after another, and closes them. */
    /** Every rank of {@code world} opened on a store of its own that counts its listings, into {@code counted}. */
    private static List<Checkpointer> openCounted(ObjectStore store, int world, List<CountingLists> counted) {
        List<Checkpointer> opened = new ArrayList<>();
        for (int r = 0; r < world; r++) {
            CountingLists c = new CountingLists(store);
            counted.add(c);
            opened.add(rank(c, r, world));
        }
        return opened;
    }

    private static void saveJob(ObjectStore store, int world, long... steps) throws Exception {
        List<Checkpointer> job = new ArrayList<>();
        for (int r = 0; r < world; r++) {
            job.add(rank(store, r, world));
        }
        try {
            for (long step : steps) {
                saveAll(job, step);
            }
        } finally {
            job.forEach(Checkpointer::close);
        }
    }

    @Test
    void noRankListsTheStepsAtOpenRestoreOrSaveOnceTheStepsAreMarked() throws Exception {
        try (MemoryObjectStore store = new MemoryObjectStore(256L << 20)) {
            int world = 4;
            saveJob(store, world, 1, 2);
            assertTrue(store.list(LAYOUT.markGroupPrefix(0)).size() >= 1, "the steps are marked");

            List<CountingLists> counted = new ArrayList<>();
            List<Checkpointer> second = openCounted(store, world, counted);
            try {
                for (int r = 0; r < world; r++) {
                    RestoreResult restored = second.get(r).restore(RestoreRequest.latest().into(target(r, world)));
                    assertEquals(2, restored.step(), "rank " + r + " restores the newest step");
                }
                assertEquals(0, counted.get(0).of("steps"), "rank 0 lists no steps at open or restore: " + counted.get(0).lists);
                saveAll(second, 3);
            } finally {
                for (Checkpointer cp : second) {
                    cp.close();
                }
            }
            // Rank 0's first retention in this process learned the steps from group 0 of the marks.
            assertEquals(0, counted.get(0).of("steps"), "rank 0 lists no steps at its first commit either: "
                    + counted.get(0).lists);
            for (int r = 0; r < world; r++) {
                // Each rank removes its own stale indexes before its restore returns (StaleIndexCleanUp): from one
                // listing of the step folders, not of every key under the steps.
                assertEquals(0, counted.get(r).of("steps, by the stale index clean-up"), counted.get(r).lists.toString());
                assertEquals(1, counted.get(r).of("step folders, by the stale index clean-up"),
                        counted.get(r).lists.toString());
            }
            for (int r = 1; r < world; r++) {
                assertEquals(0, counted.get(r).of("steps"), "rank " + r + " lists no steps: " + counted.get(r).lists);
                assertEquals(0, counted.get(r).of("chunks"), "rank " + r + " lists no chunks: " + counted.get(r).lists);
                assertTrue(counted.get(r).of("marks") >= 1, "rank " + r + " read its group's marks: " + counted.get(r).lists);
            }

            List<Long> marked = marks(store);
            assertEquals(List.of(2L, 3L), marked, "step 1's mark went with it (keepLast 2), one group for 4 ranks");

            // Another world size reads other groups (one group for fewer than 251 ranks), and finds step 3 all the same.
            for (int r = 0; r < 3; r++) {
                CountingLists c = new CountingLists(store);
                try (Checkpointer cp = rank(c, r, 3)) {
                    assertEquals(3, cp.restore(RestoreRequest.latest().into(target(r, 3))).step());
                }
                assertEquals(0, c.of("steps"), "rank " + r + " of 3 lists no steps: " + c.lists);
            }
        }
    }

    /**
     * A new run (no marks anywhere): every process looks at the step folders once at open (none: group 0 of the marks
     * holds nothing, and a run of a release without marks looks the same), and lists no step's keys. Rank 0's first
     * commit marks the step from what its open's look found instead of looking again, and its first retention learns
     * the steps from group 0 of the marks.
     */
    @Test
    void aNewRunListsTheStepsOnceAProcessAtItsOpen() throws Exception {
        try (MemoryObjectStore store = new MemoryObjectStore(256L << 20)) {
            int world = 4;
            List<CountingLists> counted = new ArrayList<>();
            List<Checkpointer> job = openCounted(store, world, counted);
            try {
                saveAll(job, 1);
                saveAll(job, 2);
                saveAll(job, 3);
            } finally {
                job.forEach(Checkpointer::close);
            }
            for (int r = 0; r < world; r++) {
                assertEquals(0, counted.get(r).of("steps"), "rank " + r + " lists no steps: " + counted.get(r).lists);
                assertEquals(1, counted.get(r).of("step folders"), "rank " + r + " looks at the step folders at its"
                        + " open only: " + counted.get(r).lists);
                assertEquals(0, counted.get(r).of("chunks"), "rank " + r + ": " + counted.get(r).lists);
            }
            List<Long> marked = marks(store);
            assertEquals(List.of(2L, 3L), marked, "steps 2 and 3 are marked, step 1's mark went with it");
        }
    }

    /**
     * What the stale index clean-up is for: an attempt that failed (rank 0's MANIFEST
     * create of step 3 refused) leaves ranks 1-3's indexes of step 3 and step 3's marks; a new job of 4 ranks restores
     * step 2, and once every restore has returned no index of step 3 is left (rank 0 would otherwise read the old
     * attempt's when this job reaches step 3, and commit its slices). The new job then saves step 3 with other values,
     * and a third job restores exactly those. Rank 0's first retention meets step 3's marks without a MANIFEST and
     * skips them.
     */
    @Test
    void theIndexesOfAFailedAttemptAreGoneWhenTheRestoreReturns() throws Exception {
        try (MemoryObjectStore store = new MemoryObjectStore(256L << 20)) {
            int world = 4;
            saveJob(store, world, 1, 2);
            String manifest3 = LAYOUT.manifestKey(3);
            ObjectStore refusing = new ForwardingObjectStore(store) {
                @Override
                public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
                    if (key.equals(manifest3)) {
                        throw new IOException("refused for the test: the attempt dies at its commit point");
                    }
                    return super.putIfAbsent(key, data);
                }

                @Override
                public void close() {
                    // the shared store is closed by the test
                }
            };
            List<Checkpointer> failed = new ArrayList<>();
            for (int r = 0; r < world; r++) {
                // Ranks 1-3 wait out this deadline for a MANIFEST that never comes; it also bounds their index writes,
                // which the test needs done, so it is 10 s (not shorter) for a busy 2-core machine.
                failed.add(rank(refusing, r, world, Duration.ofSeconds(10)));
            }
            try {
                List<CheckpointHandle> handles = new ArrayList<>();
                for (int r = 0; r < world; r++) {
                    handles.add(failed.get(r).save(3, state(r, world, 3, 1)));
                }
                for (CheckpointHandle h : handles) {
                    try {
                        h.done().get(60, TimeUnit.SECONDS); // generous: a shared 2-core machine
                    } catch (java.util.concurrent.ExecutionException expected) {
                        // the step does not commit
                    }
                }
            } finally {
                failed.forEach(Checkpointer::close);
            }
            assertTrue(store.list(manifest3).isEmpty(), "step 3 is not committed");
            for (int r = 1; r < world; r++) {
                assertTrue(!store.list(LAYOUT.indexKey(3, r)).isEmpty(), "the failed attempt left rank " + r + "'s index");
            }

            List<CountingLists> counted = new ArrayList<>();
            List<Checkpointer> second = openCounted(store, world, counted);
            try {
                for (int r = 0; r < world; r++) {
                    assertEquals(2, second.get(r).restore(RestoreRequest.latest().into(target(r, world))).step());
                }
                List<String> left = new ArrayList<>();
                for (ObjectInfo o : store.list(LAYOUT.stepPrefix(3))) {
                    if (LAYOUT.isIndexKey(o.key())) {
                        left.add(o.key());
                    }
                }
                assertEquals(List.of(), left, "no index of the failed attempt is left once the restores returned");
                List<CheckpointHandle> handles = new ArrayList<>();
                for (int r = 0; r < world; r++) {
                    handles.add(second.get(r).save(3, state(r, world, 3, 2)));
                }
                for (CheckpointHandle h : handles) {
                    h.done().get(60, TimeUnit.SECONDS);
                }
                assertEquals(0, counted.get(0).of("steps"), "rank 0's first retention learns the steps from the marks: "
                        + counted.get(0).lists);
            } finally {
                second.forEach(Checkpointer::close);
            }
            for (int r = 0; r < world; r++) {
                assertEquals(0, counted.get(r).of("steps") + counted.get(r).of("steps, by the stale index clean-up"),
                        "rank " + r + " removed its stale index without listing the steps: " + counted.get(r).lists);
                assertEquals(1, counted.get(r).of("step folders, by the stale index clean-up"), counted.get(r).lists.toString());
            }
            for (int r = 0; r < world; r++) {
                try (Checkpointer cp = rank(store, r, world)) {
                    TrainingState into = target(r, world);
                    assertEquals(3, cp.restore(RestoreRequest.latest().into(into)).step());
                    ByteBuffer got = into.tensor("w").buffers().get(0).duplicate().order(ByteOrder.LITTLE_ENDIAN);
                    ByteBuffer want = state(r, world, 3, 2).tensor("w").buffers().get(0).duplicate().order(ByteOrder.LITTLE_ENDIAN);
                    assertEquals(want, got, "rank " + r + " restores this job's step 3, not the failed attempt's");
                }
            }
        }
    }

    /**
     * A sweep removes the marks of a step without a MANIFEST (a committer that died between its marks and its MANIFEST)
     * once older than the grace, and keeps the committed steps' marks, which readers need.
     */
    @Test
    void aSweepRemovesMarksOfStepsThatAreNotCommitted() throws Exception {
        try (MemoryObjectStore store = new MemoryObjectStore(256L << 20)) {
            List<Checkpointer> job = List.of(rank(store, 0, 2), rank(store, 1, 2));
            try {
                saveAll(job, 1);
            } finally {
                job.forEach(Checkpointer::close);
            }
            String abandoned = LAYOUT.markKey(0, 9);
            store.put(abandoned, ByteBuffer.allocate(0));
            String foreign = LAYOUT.marksPrefix() + "0/9"; // not a mark of this layout: left alone
            store.put(foreign, ByteBuffer.allocate(0));
            Thread.sleep(20); // the grace below is 5 ms: the marks are then older than it whatever this machine's speed
            try (org.apache.arrow.memory.RootAllocator alloc = new org.apache.arrow.memory.RootAllocator();
                 dev.cairn.tiers.internal.Tier tier = new dev.cairn.tiers.internal.Tier(
                         TierConfig.of("shared", store).keepLast(2), 0, LAYOUT, 1)) {
                new dev.cairn.tiers.internal.gc.GarbageCollector(new dev.cairn.tiers.internal.commit.CommitProtocol(alloc))
                        .collect(tier, Duration.ofMillis(5), java.util.Set.of(), false,
                                dev.cairn.tiers.internal.gc.GarbageCollector.Collector.OUTSIDER);
                assertEquals(1, dev.cairn.tiers.internal.commit.StepMarks.newest(tier, 1, 2));
            }
            List<String> left = new ArrayList<>();
            for (ObjectInfo o : store.list(LAYOUT.marksPrefix())) {
                left.add(o.key());
            }
            assertEquals(List.of(foreign, LAYOUT.markKey(0, 1), LAYOUT.marksCompleteKey()).stream().sorted().toList(), left);
        }
    }
}
