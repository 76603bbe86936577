package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.CheckpointHandle;
import dev.cairn.CheckpointInfo;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.GcReport;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import dev.cairn.tiers.internal.gc.GarbageCollector;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.IndexRef;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The commit notices of a multi-rank run that meets through the store: a notice that names the digest of a rank's own
 * index is that rank's commit; any other tells it when to check the MANIFEST and is never taken for a commit; they go
 * with their step, and never show as steps.
 */
class CommitNoticeTest {
    private static final long[] GLOBAL = {32, 256};
    private final MemoryObjectStore store = new MemoryObjectStore(256L << 20);
    private final StoreLayout layout = new StoreLayout("notice");
    /**
     * The deadline of a save that must wait it out: it also bounds the writes before its commit (chunks, index), which
     * the test needs done, so it is 10 s (not shorter) for a busy 2-core machine.
     */
    private static final Duration DEADLINE = Duration.ofSeconds(10);

    @AfterEach
    void close() {
        store.close();
    }

    private static Checkpointer rank(ObjectStore store, int r, int world, Duration deadline, int keepLast) {
        return Checkpointer.open(CairnConfig.builder("notice").tier(TierConfig.of("shared", store).keepLast(keepLast))
                .chunkBytes(4096).encoderThreads(1).stagingBytes(4L << 20).deadline(deadline).rank(r, world).build());
    }

    private static TrainingState state(int r, int world, long step) {
        ShardSpec s = ShardSpec.split(GLOBAL, 0, world, r);
        ByteBuffer w = ByteBuffer.allocateDirect((int) (s.lengths()[0] * GLOBAL[1] * 4)).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; w.hasRemaining(); i++) {
            w.putFloat((float) (step * 100_000 + s.offsets()[0] * GLOBAL[1] + i));
        }
        return TrainingState.builder().add(Tensor.sharded("w", DType.F32, s, w.flip())).build();
    }

    private List<String> keysUnder(String prefix) throws IOException {
        List<String> keys = new ArrayList<>();
        for (ObjectInfo o : store.list(prefix)) {
            keys.add(o.key());
        }
        return keys;
    }

    /**
     * A notice with no MANIFEST behind it, as a rank 0 would leave that wrote it although its create failed (or a
     * writer of another job under the run's name): rank 1 finds it right after writing its index, checks the MANIFEST,
     * and waits on until its deadline instead of reporting the step committed. The deadline is the expected outcome
     * (no MANIFEST is ever written here), and it also bounds the save up to its index, which the test needs written
     * (a save that reaches its commit after its deadline writes no index and never sees the notice): so it is
     * {@link #DEADLINE}, not shorter.
     */
    @Test
    void aRankNeverTakesANoticeWithoutAManifestForACommit() throws Exception {
        String ownIndex = layout.indexKey(5, 1);
        String notice = layout.noticeKey(5, 1, 2);
        ObjectStore crashedRankZero = new ForwardingObjectStore(store) {
            @Override
            public void put(String key, ByteBuffer data) throws IOException {
                super.put(key, data);
                if (key.equals(ownIndex)) {
                    super.put(notice, ByteBuffer.allocate(0)); // the notice of a create that never happened
                }
            }

            @Override
            public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
                boolean created = super.putIfAbsent(key, data); // the rank creates its index
                if (key.equals(ownIndex)) {
                    super.put(notice, ByteBuffer.allocate(0));
                }
                return created;
            }

            @Override
            public void close() {
            }
        };
        try (Checkpointer one = rank(crashedRankZero, 1, 2, DEADLINE, 2)) {
            CheckpointHandle h = one.save(5, state(1, 2, 5));
            ExecutionException e = assertThrows(ExecutionException.class, () -> h.done().get(60, TimeUnit.SECONDS));
            CheckpointException c = assertInstanceOf(CheckpointException.class, e.getCause());
            assertEquals(Reason.TIMEOUT, c.reason(), c.getMessage());
            assertTrue(c.getMessage().contains("a commit notice was there, but no MANIFEST"), c.getMessage());
        }
        assertEquals(List.of(notice), keysUnder(layout.noticesPrefix()), "the notice was there all along");
        assertFalse(keysUnder(layout.stepsPrefix()).contains(layout.manifestKey(5)), "and no MANIFEST");
    }

    /**
     * A notice of another attempt of the same step: it names rank 1's index by the digest of other bytes (the index an
     * earlier attempt put), and no MANIFEST of this attempt exists. Rank 1 does not take it: it checks the MANIFEST,
     * and waits on until its deadline. (An empty notice, as a release before the notices named indexes wrote, is the
     * test above.) The deadline is the expected outcome, and it also bounds the save up to its index, as above.
     */
    @Test
    void aRankNeverTakesANoticeThatNamesAnotherIndexOfItsStep() throws Exception {
        String ownIndex = layout.indexKey(5, 1);
        String notice = layout.noticeKey(5, 1, 2);
        String otherIndex = IndexRef.digestOf(ByteBuffer.wrap("an index of an earlier attempt".getBytes(StandardCharsets.UTF_8)));
        String stale = "cairn-notice 1\nmanifest " + "0".repeat(64) + "\n1 " + otherIndex + "\n";
        ObjectStore earlierAttempt = new ForwardingObjectStore(store) {
            @Override
            public void put(String key, ByteBuffer data) throws IOException {
                super.put(key, data);
                if (key.equals(ownIndex)) {
                    super.put(notice, ByteBuffer.wrap(stale.getBytes(StandardCharsets.US_ASCII)));
                }
            }

            @Override
            public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
                boolean created = super.putIfAbsent(key, data); // the rank creates its index
                if (key.equals(ownIndex)) {
                    super.put(notice, ByteBuffer.wrap(stale.getBytes(StandardCharsets.US_ASCII)));
                }
                return created;
            }

            @Override
            public void close() {
            }
        };
        try (Checkpointer one = rank(earlierAttempt, 1, 2, DEADLINE, 2)) {
            CheckpointHandle h = one.save(5, state(1, 2, 5));
            ExecutionException e = assertThrows(ExecutionException.class, () -> h.done().get(60, TimeUnit.SECONDS));
            CheckpointException c = assertInstanceOf(CheckpointException.class, e.getCause());
            assertEquals(Reason.TIMEOUT, c.reason(), c.getMessage());
            assertTrue(c.getMessage().contains("a commit notice was there, but no MANIFEST"), c.getMessage());
        }
        assertFalse(keysUnder(layout.stepsPrefix()).contains(layout.manifestKey(5)), "no MANIFEST");
    }

    /**
     * Two ranks commit a step: rank 0's notice names the digest of rank 1's index, and rank 1 takes it for its commit
     * without asking for the MANIFEST (a HEAD per rank, which thousands of ranks would pay). Until rank 1 has read its
     * notice its store shows no MANIFEST, so that a periodic check of the MANIFEST (every 15 s), which a stalled
     * machine could bring before the first look at the notice, cannot learn the commit first: no timing is assumed.
     */
    @Test
    void aRankTakesTheNoticeThatNamesItsOwnIndexWithoutAskingForTheManifest() throws Exception {
        String manifest = layout.manifestKey(1);
        String notice = layout.noticeKey(1, 1, 2);
        List<String> afterNotice = java.util.Collections.synchronizedList(new ArrayList<>());
        java.util.concurrent.atomic.AtomicBoolean noticeRead = new java.util.concurrent.atomic.AtomicBoolean();
        ObjectStore watched = new ForwardingObjectStore(store) {
            @Override
            public int read(String key, long offset, ByteBuffer dst) throws IOException {
                hideManifestUntilTheNotice(key);
                int n = super.read(key, offset, dst);
                note(key);
                if (key.equals(notice) && n > 0) {
                    noticeRead.set(true);
                }
                return n;
            }

            @Override
            public ObjectInfo stat(String key) throws IOException {
                hideManifestUntilTheNotice(key);
                note(key);
                return super.stat(key);
            }

            private void hideManifestUntilTheNotice(String key) throws java.nio.file.NoSuchFileException {
                if (key.equals(manifest) && !noticeRead.get()) {
                    throw new java.nio.file.NoSuchFileException(key);
                }
            }

            private void note(String key) {
                if (noticeRead.get() && key.equals(manifest)) {
                    afterNotice.add(key);
                }
            }

            @Override
            public void close() {
            }
        };
        try (Checkpointer zero = rank(store, 0, 2, Duration.ofSeconds(60), 2);
             Checkpointer one = rank(watched, 1, 2, Duration.ofSeconds(60), 2)) {
            CheckpointHandle h0 = zero.save(1, state(0, 2, 1));
            CheckpointHandle h1 = one.save(1, state(1, 2, 1));
            h0.done().get(60, TimeUnit.SECONDS);
            h1.done().get(60, TimeUnit.SECONDS);
        }
        assertTrue(noticeRead.get(), "rank 1 learned the commit from its notice");
        assertEquals(List.of(), afterNotice, "and asked nothing of the MANIFEST after it");
        String body = StandardCharsets.US_ASCII.decode(store.readAll(notice)).toString();
        assertTrue(body.startsWith("cairn-notice 1\nmanifest "), body);
        assertTrue(body.contains("\n1 " + IndexRef.digestOf(store.readAll(layout.indexKey(1, 1))) + "\n"),
                "the notice names rank 1's index as committed: " + body);
    }

    /**
     * A step committed before a rank saves it: its index of the step is there (the rank creates its index, and that
     * create finds it), and its notice says the step was committed, so the second save is refused and the committed
     * index stays as it was.
     */
    @Test
    void aRankRefusesToSaveAStepItsNoticeSaysIsCommitted() throws Exception {
        store.put(layout.noticeKey(5, 1, 2), ByteBuffer.allocate(0));
        byte[] committedIndex = "the committed step's index of rank 1".getBytes(StandardCharsets.UTF_8);
        store.put(layout.indexKey(5, 1), ByteBuffer.wrap(committedIndex));
        try (Checkpointer one = rank(store, 1, 2, Duration.ofSeconds(30), 2)) {
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> one.save(5, state(1, 2, 5)).done().get(60, TimeUnit.SECONDS));
            CheckpointException c = assertInstanceOf(CheckpointException.class, e.getCause());
            assertEquals(Reason.CONFLICT, c.reason(), c.getMessage());
        }
        assertEquals(List.of(layout.indexKey(5, 1)), keysUnder(layout.stepsPrefix()));
        assertEquals(ByteBuffer.wrap(committedIndex), store.readAll(layout.indexKey(5, 1)), "no index replaced");
    }

    /**
     * Three ranks, keep one: step 1's notice is put after its MANIFEST and goes with it when step 2 retires it; the
     * listing of the steps shows committed steps only.
     */
    @Test
    void noticesAreWrittenAfterTheManifestAndRetiredWithTheirStep() throws Exception {
        List<Checkpointer> ranks = new ArrayList<>();
        for (int r = 0; r < 3; r++) {
            ranks.add(rank(store, r, 3, Duration.ofSeconds(30), 1));
        }
        try {
            for (long step = 1; step <= 2; step++) {
                List<CheckpointHandle> handles = new ArrayList<>();
                for (int r = 0; r < 3; r++) {
                    handles.add(ranks.get(r).save(step, state(r, 3, step)));
                }
                for (CheckpointHandle h : handles) {
                    h.done().get(60, TimeUnit.SECONDS);
                }
                assertTrue(keysUnder(layout.noticesPrefix()).contains(layout.noticeKey(step, 2, 3)),
                        "step " + step + "'s notice");
            }
            // Rank 0's retention runs beside its commits, on a thread of its own: wait until it removed step 1's notice.
            // The 60 s bound only turns a hang into a failure; retention of one small step takes milliseconds.
            long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (keysUnder(layout.noticesPrefix()).contains(layout.noticeKey(1, 0, 3)) && System.nanoTime() < giveUp) {
                Thread.sleep(10);
            }
            assertEquals(List.of(layout.noticeKey(2, 0, 3)), keysUnder(layout.noticesPrefix()));
            List<Long> listed = ranks.get(1).list().stream().map(CheckpointInfo::step).toList();
            assertEquals(List.of(2L), listed, "notices never show as steps");
        } finally {
            ranks.forEach(Checkpointer::close);
        }
    }

    /** A sweep removes a notice whose step has no MANIFEST once it is older than the grace, and keeps a committed one's. */
    @Test
    void aSweepRemovesNoticesOfStepsThatAreNotCommitted() throws Exception {
        List<Checkpointer> ranks = List.of(rank(store, 0, 2, Duration.ofSeconds(30), 3), rank(store, 1, 2,
                Duration.ofSeconds(30), 3));
        try {
            List<CheckpointHandle> handles = List.of(ranks.get(0).save(1, state(0, 2, 1)), ranks.get(1).save(1, state(1, 2, 1)));
            for (CheckpointHandle h : handles) {
                h.done().get(60, TimeUnit.SECONDS);
            }
        } finally {
            ranks.forEach(Checkpointer::close);
        }
        String orphan = layout.noticeKey(7, 0, 2);
        store.put(orphan, ByteBuffer.allocate(0));
        String foreign = layout.noticesPrefix() + "x/7"; // not a notice of this layout: left alone
        store.put(foreign, ByteBuffer.allocate(0));
        Thread.sleep(20); // the grace below is 5 ms: the orphan is then older than it whatever this machine's speed
        try (RootAllocator alloc = new RootAllocator();
             Tier tier = new Tier(TierConfig.of("shared", store).keepLast(3), 0, layout, 1)) {
            GcReport report = new GarbageCollector(new CommitProtocol(alloc)).collect(tier, Duration.ofMillis(5), Set.of(),
                    false, GarbageCollector.Collector.OUTSIDER);
            assertEquals(List.of(), report.stepsRetired());
        }
        List<String> left = keysUnder(layout.noticesPrefix());
        assertFalse(left.contains(orphan), left.toString());
        assertTrue(left.contains(layout.noticeKey(1, 0, 2)), "the committed step's notice stays: " + left);
        assertTrue(left.contains(foreign), left.toString());
    }
}
