package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.Coordinator;
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
import dev.cairn.testkit.GatheringCoordinator;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The ranks of a run restore one step. Two ranks share a fast tier (every step) and a slow one (every second step);
 * steps 1-3 are committed, so the fast tier's newest is 3 and the slow tier's 2. Rank 1's look at the fast tier fails
 * (a shared disk's listing that fails once): alone (the default), it takes the tier for holding nothing and restores
 * step 2 from the slow tier while rank 0 restores step 3, two states in one run. Restoring together ({@link
 * RestoreRequest#together()}), the ranks agree through the coordinator: rank 1 asks the fast tier again for step 3, the
 * newest any rank found, and restores it; where it still cannot find it, its restore fails instead.
 */
class RanksRestoreOneStepTest {
    private static final long[] GLOBAL = {64, 32};
    private static final String RUN = "agree";
    /** Generous: the test waits on events (commits, the other rank's arrival), never on this, unless it fails. */
    private static final Duration DEADLINE = Duration.ofSeconds(60);
    private final MemoryObjectStore fast = new MemoryObjectStore(64L << 20);
    private final MemoryObjectStore slow = new MemoryObjectStore(64L << 20);
    private final ExecutorService threads = Executors.newFixedThreadPool(2);

    @AfterEach
    void close() {
        threads.shutdownNow();
        fast.close();
        slow.close();
    }

    /** Rank r's slice of "w" at {@code step}: step * 65536 + the element's global index. */
    private static TrainingState state(int r, long step) {
        ShardSpec s = ShardSpec.split(GLOBAL, 0, 2, r);
        ByteBuffer w = ByteBuffer.allocateDirect((int) (s.lengths()[0] * GLOBAL[1] * 4)).order(ByteOrder.LITTLE_ENDIAN);
        long first = s.offsets()[0] * GLOBAL[1];
        for (int i = 0; w.hasRemaining(); i++) {
            w.putFloat(step * 65536 + first + i);
        }
        return TrainingState.builder().add(Tensor.sharded("w", DType.F32, s, w.flip())).build();
    }

    private static TrainingState targets(int r) {
        return TrainingState.builder().add(Tensor.allocate("w", DType.F32, ShardSpec.split(GLOBAL, 0, 2, r))).build();
    }

    private Checkpointer open(int r, ObjectStore fastStore, Coordinator coordinator) {
        return open(r, fastStore, slow, coordinator);
    }

    private Checkpointer open(int r, ObjectStore fastStore, ObjectStore slowStore, Coordinator coordinator) {
        CairnConfig.Builder b = CairnConfig.builder(RUN).rank(r, 2).chunkBytes(4096).encoderThreads(1).stagingBytes(4L << 20)
                .deadline(DEADLINE).tier(TierConfig.of("fast", fastStore).keepLast(3))
                .tier(TierConfig.of("slow", slowStore).everySteps(2).keepLast(3));
        if (coordinator != null) {
            b.coordinator(coordinator);
        }
        return Checkpointer.open(b.build());
    }

    /** Steps 1-3 saved by both ranks, each committed in every tier that takes it. */
    private void saveThreeSteps() throws Exception {
        Coordinator coordinator = new GatheringCoordinator();
        List<Checkpointer> ranks = List.of(open(0, fast, coordinator), open(1, fast, coordinator));
        try {
            for (long step = 1; step <= 3; step++) {
                List<CheckpointHandle> handles = new ArrayList<>();
                for (int r = 0; r < 2; r++) {
                    handles.add(ranks.get(r).save(step, state(r, step)));
                }
                for (CheckpointHandle h : handles) {
                    h.done().get(60, TimeUnit.SECONDS);
                }
            }
        } finally {
            for (Checkpointer cp : ranks) {
                cp.close();
            }
        }
    }

    /**
     * {@code store} as rank 1 sees it: every call from the thread of its restore fails while {@code failures} is above
     * zero, counting it down (calls of the checkpointer's own threads, such as the read-ahead it starts at open, pass).
     */
    private static ForwardingObjectStore failing(ObjectStore store, AtomicInteger failures, AtomicReference<Thread> restoring) {
        return new ForwardingObjectStore(store) {
            private void maybeFail(String what) throws IOException {
                if (Thread.currentThread() == restoring.get() && failures.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                    throw new IOException("injected: the shared tier did not answer (" + what + ")");
                }
            }

            @Override
            public int read(String key, long offset, ByteBuffer dst) throws IOException {
                maybeFail("read " + key);
                return super.read(key, offset, dst);
            }

            @Override
            public ObjectInfo stat(String key) throws IOException {
                maybeFail("stat " + key);
                return super.stat(key);
            }

            @Override
            public List<ObjectInfo> list(String prefix) throws IOException {
                maybeFail("list " + prefix);
                return super.list(prefix);
            }

            @Override
            public List<String> listFolders(String prefix) throws IOException {
                maybeFail("listFolders " + prefix);
                return super.listFolders(prefix);
            }
        };
    }

    /**
     * Both ranks restore at once, each with {@code request}, rank 1's calls to the fast tier failing {@code
     * failuresToArm} times; their results, or the failure of each.
     */
    private List<Object> restoreBoth(Coordinator coordinator, AtomicInteger failures, int failuresToArm,
                                     Function<Integer, RestoreRequest> request) throws Exception {
        return restoreBoth(coordinator, failures, failuresToArm, false, request);
    }

    /** {@link #restoreBoth}, rank 1's calls to the slow tier failing too where {@code slowToo}, from the same count. */
    private List<Object> restoreBoth(Coordinator coordinator, AtomicInteger failures, int failuresToArm, boolean slowToo,
                                     Function<Integer, RestoreRequest> request) throws Exception {
        AtomicReference<Thread> restoring = new AtomicReference<>();
        ForwardingObjectStore rankOneFast = failing(fast, failures, restoring);
        ObjectStore rankOneSlow = slowToo ? failing(slow, failures, restoring) : slow;
        try (Checkpointer r0 = open(0, fast, coordinator); Checkpointer r1 = open(1, rankOneFast, rankOneSlow, coordinator)) {
            failures.set(failuresToArm);
            List<Future<RestoreResult>> restores = List.of(threads.submit(() -> r0.restore(request.apply(0))),
                    threads.submit(() -> {
                        restoring.set(Thread.currentThread());
                        return r1.restore(request.apply(1));
                    }));
            List<Object> out = new ArrayList<>();
            for (Future<RestoreResult> f : restores) {
                try {
                    out.add(f.get(120, TimeUnit.SECONDS));
                } catch (ExecutionException e) {
                    out.add(e.getCause());
                }
            }
            return out;
        }
    }

    private static void assertRestored(long step, int rank, Object result) {
        assertTrue(result instanceof RestoreResult, () -> "rank " + rank + ": " + result);
        RestoreResult r = (RestoreResult) result;
        assertEquals(step, r.step(), "rank " + rank);
        Fixtures.assertSameState(state(rank, step), r.state());
    }

    @Test
    void aRankWhoseLookAtASharedTierFailedRestoresTheStepTheOthersFound() throws Exception {
        saveThreeSteps();
        AtomicInteger failures = new AtomicInteger();
        List<Object> agreed = restoreBoth(new GatheringCoordinator(), failures, 1,
                r -> RestoreRequest.latest().into(targets(r)).together());
        assertEquals(0, failures.get(), "the fault was injected");
        assertRestored(3, 0, agreed.get(0));
        assertRestored(3, 1, agreed.get(1));
        assertEquals("fast", ((RestoreResult) agreed.get(1)).tier(), "rank 1 asked the fast tier again for step 3");

        // Each rank alone (the default), the same fault makes rank 1 restore the older step: what the meeting prevents.
        List<Object> alone = restoreBoth(new GatheringCoordinator(), failures, 1,
                r -> RestoreRequest.latest().into(targets(r)));
        assertEquals(0, failures.get(), "the fault was injected");
        assertRestored(3, 0, alone.get(0));
        assertRestored(2, 1, alone.get(1));
        assertEquals("slow", ((RestoreResult) alone.get(1)).tier());
    }

    @Test
    void aRankThatCouldAskNoTierStillMeetsTheOthersAndAsksForTheirStep() throws Exception {
        saveThreeSteps();
        AtomicInteger failures = new AtomicInteger();
        // Rank 1's first look at each tier fails: it found nothing it could trust (STORAGE) and meets the others anyway.
        List<Object> results = restoreBoth(new GatheringCoordinator(), failures, 2, true,
                r -> RestoreRequest.latest().into(targets(r)).together());
        assertEquals(0, failures.get(), "the faults were injected");
        assertRestored(3, 0, results.get(0));
        assertRestored(3, 1, results.get(1));
    }

    @Test
    void aRankThatCannotFindTheAgreedStepFailsInsteadOfRestoringAnother() throws Exception {
        saveThreeSteps();
        AtomicInteger failures = new AtomicInteger();
        List<Object> results = restoreBoth(new GatheringCoordinator(), failures, Integer.MAX_VALUE,
                r -> RestoreRequest.latest().into(targets(r)).together());
        assertRestored(3, 0, results.get(0));
        assertTrue(results.get(1) instanceof CheckpointException, () -> "rank 1: " + results.get(1));
        CheckpointException e = (CheckpointException) results.get(1);
        assertEquals(Reason.STORAGE, e.reason(), e.getMessage());
        assertTrue(e.getMessage().contains("rank 0 found step 3 committed") && e.getMessage().contains("its own newest is step 2")
                && e.getMessage().contains("injected"), e.getMessage());
    }

    @Test
    void ranksThatFindNothingAgreeOnNothing() throws Exception {
        AtomicInteger failures = new AtomicInteger();
        List<Object> results = restoreBoth(new GatheringCoordinator(), failures, 0, r -> RestoreRequest.latest().together());
        for (Object o : results) {
            assertTrue(o instanceof CheckpointException && ((CheckpointException) o).reason() == Reason.NOT_FOUND, () -> "" + o);
        }
    }

    @Test
    void aCoordinatorThatCannotPassDataLeavesEachRankToChooseAlone() throws Exception {
        saveThreeSteps();
        GatheringCoordinator gathering = new GatheringCoordinator();
        Coordinator barrierOnly = (name, rank, world, timeout) -> gathering.barrier(name, rank, world, timeout);
        AtomicInteger failures = new AtomicInteger();
        List<Object> results = restoreBoth(barrierOnly, failures, 1, r -> RestoreRequest.latest().into(targets(r)).together());
        assertRestored(3, 0, results.get(0));
        assertRestored(2, 1, results.get(1));
    }
}
