package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointAdmin;
import dev.cairn.CheckpointAdmin.StepCheck;
import dev.cairn.CheckpointException;
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
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/**
 * A copy into a target where another writer (the job, another copy) commits the same step number meanwhile. The copy
 * loses the MANIFEST create, or finds the step committed before it puts its indexes: either way it fails with
 * CONFLICT, and the winner's committed step must be left as the winner wrote it. Before, the copy asked whether the
 * step was committed only at its start and put its indexes unconditionally, so the winner's step was left with the
 * copy's index (another save's rows under the winner's MANIFEST: verify called it damaged; with format 5 the step could
 * not be read at all).
 */
class CopyThatLosesTheCommitTest {
    private static final String RUN = "race";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    interface Action {
        void run() throws Exception;
    }

    /**
     * The target: runs {@code atIndex} once, when the copy first writes (creates or puts) a rank index of step 5, and
     * {@code atManifest} once, when it first writes the MANIFEST of step 5, each before passing the write on.
     */
    private static final class Raced extends ForwardingObjectStore {
        private final AtomicReference<Action> atIndex;
        private final AtomicReference<Action> atManifest;

        Raced(ObjectStore target, Action atIndex, Action atManifest) {
            super(target);
            this.atIndex = new AtomicReference<>(atIndex);
            this.atManifest = new AtomicReference<>(atManifest);
        }

        private void before(String key) throws IOException {
            AtomicReference<Action> hook = LAYOUT.rankOfIndexKey(key).isPresent() && LAYOUT.stepOf(key).orElse(-1) == 5
                    ? atIndex : key.equals(LAYOUT.manifestKey(5)) ? atManifest : null;
            Action a = hook == null ? null : hook.getAndSet(null);
            if (a != null) {
                try {
                    a.run();
                } catch (IOException e) {
                    throw e;
                } catch (Exception e) {
                    throw new IOException(e);
                }
            }
        }

        @Override
        public void put(String key, ByteBuffer data) throws IOException {
            before(key);
            super.put(key, data);
        }

        @Override
        public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
            before(key);
            return super.putIfAbsent(key, data);
        }
    }

    private static void copyAll(ObjectStore from, ObjectStore to, boolean withManifest) throws IOException {
        for (ObjectInfo o : from.list("")) {
            if (withManifest || !o.key().equals(LAYOUT.manifestKey(5))) {
                to.put(o.key(), from.readAll(o.key()));
            }
        }
    }

    private static void assertIntactWinner(ObjectStore target, ObjectStore winner) throws Exception {
        try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("t", "t", target)))) {
            StepCheck check = admin.verify(RUN, List.of(5L), CheckpointAdmin.Progress.NONE).get(0);
            assertTrue(check.intact(), "the winner's step is left as it wrote it: " + check);
        }
        for (ObjectInfo o : winner.list(LAYOUT.stepPrefix(5))) {
            if (LAYOUT.rankOfIndexKey(o.key()).isPresent()) {
                assertEquals(winner.readAll(o.key()), target.readAll(o.key()), o.key() + " is the winner's");
            }
        }
        for (ObjectInfo o : target.list(LAYOUT.stepPrefix(5))) {
            if (LAYOUT.rankOfIndexKey(o.key()).isPresent()) {
                winner.stat(o.key()); // no index of the copy's is left beside the winner's
            }
        }
    }

    // ---- one rank

    private static TrainingState state(long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 30_000, seed)).build();
    }

    private static void saveOneRank(ObjectStore store, long seed) {
        try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", store).keepLast(10)).build())) {
            cp.save(5, state(seed)).done().join();
        }
    }

    private static void copyExpectingConflict(ObjectStore source, ObjectStore target) throws Exception {
        try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("src", "s", source)))) {
            CheckpointException lost = assertThrows(CheckpointException.class,
                    () -> admin.copy(RUN, 5, new StoreRef("target", "t", target), 1, CheckpointAdmin.Progress.NONE));
            assertEquals(CheckpointException.Reason.CONFLICT, lost.reason(), lost.getMessage());
        }
    }

    /** The job commits step 5 in the target after the copy's first check, just as the copy reaches its index. */
    @Test
    void aStepTheJobCommitsBeforeTheCopysIndexKeepsTheJobsIndex() throws Exception {
        try (MemoryObjectStore source = new MemoryObjectStore(64L << 20);
             MemoryObjectStore raw = new MemoryObjectStore(64L << 20);
             MemoryObjectStore job = new MemoryObjectStore(64L << 20)) {
            saveOneRank(source, 1);
            saveOneRank(job, 99);
            copyExpectingConflict(source, new Raced(raw, () -> copyAll(job, raw, true), null));
            assertIntactWinner(raw, job);
            try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", raw).keepLast(10)).build())) {
                assertSameState(state(99), cp.restore(RestoreRequest.step(5)).state());
            }
        }
    }

    /**
     * The job has put its index of step 5 (not committed yet) when the copy reaches its own, and creates its MANIFEST
     * just before the copy's: the copy replaced the job's index, and gives it back after it loses.
     */
    @Test
    void anIndexTheCopyReplacedIsGivenBackWhenItLosesTheCreate() throws Exception {
        try (MemoryObjectStore source = new MemoryObjectStore(64L << 20);
             MemoryObjectStore raw = new MemoryObjectStore(64L << 20);
             MemoryObjectStore job = new MemoryObjectStore(64L << 20)) {
            saveOneRank(source, 1);
            saveOneRank(job, 99);
            copyExpectingConflict(source, new Raced(raw, () -> copyAll(job, raw, false),
                    () -> raw.put(LAYOUT.manifestKey(5), job.readAll(LAYOUT.manifestKey(5)))));
            assertIntactWinner(raw, job);
            try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", raw).keepLast(10)).build())) {
                assertSameState(state(99), cp.restore(RestoreRequest.step(5)).state());
            }
        }
    }

    // ---- two ranks, format 5: the MANIFEST references every rank's index by its digest

    private static final long[] GLOBAL = {64, 300};

    private static TrainingState rankState(int r, float value) {
        ShardSpec sp = ShardSpec.split(GLOBAL, 0, 2, r);
        ByteBuffer w = ByteBuffer.allocateDirect((int) (sp.lengths()[0] * GLOBAL[1] * 4)).order(ByteOrder.LITTLE_ENDIAN);
        while (w.hasRemaining()) {
            w.putFloat(value);
        }
        return TrainingState.builder().add(Tensor.sharded("w", DType.F32, sp, w.flip())).build();
    }

    private static void saveOnTwoRanks(ObjectStore store, float value) throws Exception {
        List<Checkpointer> ranks = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            ranks.add(Checkpointer.open(CairnConfig.builder(RUN).tier(TierConfig.of("fast", store).keepLast(3))
                    .chunkBytes(4096).encoderThreads(1).stagingBytes(4L << 20).deadline(Duration.ofSeconds(60))
                    .gcGrace(Duration.ofMinutes(2)).rank(r, 2).build()));
        }
        try {
            List<CheckpointHandle> handles = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                handles.add(ranks.get(r).save(5, rankState(r, value)));
            }
            for (CheckpointHandle h : handles) {
                h.done().get(60, TimeUnit.SECONDS);
            }
        } finally {
            ranks.forEach(Checkpointer::close);
        }
    }

    private static void assertPagedFormat(ObjectStore store) throws IOException {
        try (RootAllocator alloc = new RootAllocator()) {
            Manifest m = ManifestFormat.read(store.readAll(LAYOUT.manifestKey(5)), "m", alloc);
            assertTrue(m.paged() && m.worldSize() == 2, "format 5 of two ranks, its rows in the indexes");
        }
    }

    @Test
    void aTwoRankStepTheJobCommitsBeforeTheCopysIndexesKeepsEveryIndexOfTheJob() throws Exception {
        try (MemoryObjectStore source = new MemoryObjectStore(64L << 20);
             MemoryObjectStore raw = new MemoryObjectStore(64L << 20);
             MemoryObjectStore job = new MemoryObjectStore(64L << 20)) {
            saveOnTwoRanks(source, 1.0f);
            saveOnTwoRanks(job, 2.0f);
            assertPagedFormat(source);
            copyExpectingConflict(source, new Raced(raw, () -> copyAll(job, raw, true), null));
            assertIntactWinner(raw, job);
        }
    }

    @Test
    void twoRankIndexesTheCopyReplacedAreGivenBackWhenItLosesTheCreate() throws Exception {
        try (MemoryObjectStore source = new MemoryObjectStore(64L << 20);
             MemoryObjectStore raw = new MemoryObjectStore(64L << 20);
             MemoryObjectStore job = new MemoryObjectStore(64L << 20)) {
            saveOnTwoRanks(source, 1.0f);
            saveOnTwoRanks(job, 2.0f);
            copyExpectingConflict(source, new Raced(raw, () -> copyAll(job, raw, false),
                    () -> raw.put(LAYOUT.manifestKey(5), job.readAll(LAYOUT.manifestKey(5)))));
            assertIntactWinner(raw, job);
        }
    }
}
