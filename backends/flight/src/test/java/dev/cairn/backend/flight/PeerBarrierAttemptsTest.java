package dev.cairn.backend.flight;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.Coordinator;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Barriers are named by run, tier and step only (the ranks agree on nothing finer), so arrivals of two attempts of
 * one step meet under one name: a late task of an earlier attempt (a zombie after a restart) beside the live rank, or a
 * step saved again while the earlier save's release is still kept. Neither may decide the other's round.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PeerBarrierAttemptsTest {
    private static final Duration LONG = Duration.ofSeconds(60);

    /**
     * Attempt 2's rank 1 arrives at "run/t/5/indexed" with the digest of its index; a late rank 1 of attempt 1 arrives
     * after it with its own digest (of the index it has just written over the live one's). Before, the later arrival
     * replaced the earlier and the barrier was released with attempt 1's digest, which matched the index under the key:
     * rank 0 committed attempt 1's rows of rank 1 beside attempt 2's of rank 0. Now the barrier fails for both arrivals
     * of rank 1, and for rank 0 when it comes, and nothing is released.
     */
    @Test
    void twoArrivalsOfOneRankWithDifferentTokensFailTheBarrierForEveryRank() throws Exception {
        PeerBarriers barriers = new PeerBarriers();
        LocalArrival live = new LocalArrival();
        LocalArrival zombie = new LocalArrival();
        LocalArrival zero = new LocalArrival();
        barriers.arrive(new PeerProtocol.Arrival("run/t/5/indexed", 1, 2, 60_000, "digest-attempt-2"), live);
        barriers.arrive(new PeerProtocol.Arrival("run/t/5/indexed", 1, 2, 60_000, "digest-attempt-1"), zombie);
        barriers.arrive(new PeerProtocol.Arrival("run/t/5/indexed", 0, 2, 60_000, "digest-rank-0"), zero);
        for (LocalArrival each : List.of(live, zombie, zero)) {
            PeerLink.PeerException e = assertThrows(PeerLink.PeerException.class, () -> each.await("run/t/5/indexed", 1_000),
                    "released with one attempt's digest of rank 1");
            assertTrue(e.conflicted(), e.toString());
            assertFalse(e.unreachable(), "not retried: " + e);
        }
        assertEquals(0, barriers.open());
        // Every rank of that round has learned it: a new attempt's arrivals form a new round.
        LocalArrival one = new LocalArrival();
        LocalArrival zeroAgain = new LocalArrival();
        barriers.arrive(new PeerProtocol.Arrival("run/t/5/indexed", 1, 2, 60_000, "digest-attempt-3"), one);
        barriers.arrive(new PeerProtocol.Arrival("run/t/5/indexed", 0, 2, 60_000, "digest-rank-0"), zeroAgain);
        assertEquals(List.of("digest-rank-0", "digest-attempt-3"), one.await("run/t/5/indexed", 1_000));
    }

    /**
     * The same through the peer group, as the engine sees it: every rank's arrival, on whichever peer, fails with
     * CONFLICT (the step is not committed on any rank), rank 0's included, which arrives after the conflict.
     */
    @Test
    void everyRankOfABarrierWithTwoAttemptsOfOneRankFailsWithConflict() throws Exception {
        try (PeerGroup group = PeerGroup.start(3)) {
            ExecutorService pool = Executors.newSingleThreadExecutor();
            try {
                Coordinator live = group.peer(1).coordinator().orElseThrow();
                Future<?> first = pool.submit(() -> live.allGather("run/t/5/indexed", 1, 2, "digest-attempt-2", LONG));
                while (group.peer(0).service().openBarriers() == 0 && !first.isDone()) {
                    Thread.sleep(5); // until the live rank 1's arrival reached peer 0
                }
                Coordinator zombie = group.peer(2).coordinator().orElseThrow();
                CheckpointException late = assertThrows(CheckpointException.class,
                        () -> zombie.allGather("run/t/5/indexed", 1, 2, "digest-attempt-1", LONG));
                assertEquals(Reason.CONFLICT, late.reason(), late.getMessage());
                ExecutionException e = assertThrows(ExecutionException.class, () -> first.get(60, TimeUnit.SECONDS));
                assertEquals(Reason.CONFLICT, ((CheckpointException) e.getCause()).reason(), e.getCause().getMessage());
                CheckpointException zero = assertThrows(CheckpointException.class, () -> group.peer(0).coordinator()
                        .orElseThrow().allGather("run/t/5/indexed", 0, 2, "digest-rank-0", Duration.ofSeconds(10)));
                assertEquals(Reason.CONFLICT, zero.reason(), zero.getMessage());
            } finally {
                pool.shutdownNow();
            }
        }
    }

    /**
     * Attempt 1 of step 5 failed on rank 0: every rank passed "committed" with an empty token. Within that barrier's
     * timeout the step is saved again (a checkpointer closed and reopened on the same peer group): rank 1 arrives at
     * "committed" with the same empty token. Before, it was answered at once with attempt 1's release, so the new round
     * never got rank 1 and rank 0, which created the MANIFEST this time, waited out its deadline. A kept release is
     * handed again only to the caller that was in it.
     */
    @Test
    void aRetriedStepsCommittedBarrierIsNotAnsweredWithTheEarlierAttemptsRelease() throws Exception {
        PeerBarriers barriers = new PeerBarriers();
        String name = "run/t/5/committed";
        LocalArrival one = new LocalArrival();
        LocalArrival zero = new LocalArrival();
        barriers.arrive(new PeerProtocol.Arrival(name, 1, 2, 60_000, ""), one);
        barriers.arrive(new PeerProtocol.Arrival(name, 0, 2, 60_000, ""), zero);
        assertEquals(List.of("", ""), zero.await(name, 1_000));

        LocalArrival oneAgain = new LocalArrival();
        LocalArrival zeroAgain = new LocalArrival();
        barriers.arrive(new PeerProtocol.Arrival(name, 1, 2, 60_000, ""), oneAgain);
        assertFalse(oneAgain.ended(), "attempt 2's rank 1 was handed attempt 1's release");
        barriers.arrive(new PeerProtocol.Arrival(name, 0, 2, 60_000, "created m g"), zeroAgain);
        assertEquals(0, barriers.open(), "attempt 2's rank 0 is left alone at its barrier until its deadline");
        assertEquals(List.of("created m g", ""), oneAgain.await(name, 1_000));
        assertEquals(List.of("created m g", ""), zeroAgain.await(name, 1_000));
    }

    /** The same through the peer group: each allGather is a caller of its own, so the second save forms its own round. */
    @Test
    void aStepSavedAgainThroughThePeerGroupMeetsInANewRound() throws Exception {
        try (PeerGroup group = PeerGroup.start(2)) {
            ExecutorService pool = Executors.newSingleThreadExecutor();
            try {
                Coordinator zero = group.peer(0).coordinator().orElseThrow();
                Coordinator one = group.peer(1).coordinator().orElseThrow();
                String name = "run/t/5/committed";
                Future<List<String>> first = pool.submit(() -> one.allGather(name, 1, 2, "", LONG).orElseThrow());
                assertEquals(List.of("", ""), zero.allGather(name, 0, 2, "", LONG).orElseThrow());
                assertEquals(List.of("", ""), first.get(60, TimeUnit.SECONDS));
                Future<List<String>> second = pool.submit(() -> one.allGather(name, 1, 2, "", LONG).orElseThrow());
                while (group.peer(0).service().openBarriers() == 0 && !second.isDone()) {
                    Thread.sleep(5); // until rank 1's second arrival reached peer 0 (or was answered, the defect)
                }
                assertEquals(List.of("created m g", ""), zero.allGather(name, 0, 2, "created m g", Duration.ofSeconds(10))
                        .orElseThrow());
                assertEquals(List.of("created m g", ""), second.get(60, TimeUnit.SECONDS));
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
