package dev.cairn.backend.flight;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.Coordinator;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The peer group's barrier: nobody passes until every rank has arrived, whichever peer each rank is; a missing rank
 * makes the others fail with TIMEOUT at their deadline, as does losing peer 0 (it may be restarting, so a rank retries
 * until then); a rank may arrive twice; a barrier's world size is checked. The
 * deadlines below are what the barrier is told to wait, not guesses at the machine's speed: the releases are events.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PeerCoordinatorTest {
    private static final Duration LONG = Duration.ofSeconds(60);

    @Test
    void noRankPassesABarrierBeforeTheLastOneArrives() throws Exception {
        try (PeerGroup group = PeerGroup.start(4)) {
            ExecutorService pool = Executors.newCachedThreadPool();
            try {
                for (int round = 0; round < 20; round++) {
                    String name = "run/peer/" + round + "/indexed";
                    AtomicInteger passed = new AtomicInteger();
                    CountDownLatch firstThree = new CountDownLatch(3);
                    List<Future<?>> waits = new ArrayList<>();
                    for (int rank = 0; rank < 3; rank++) {
                        int r = rank;
                        // rank r is peer (r + round) % 4: the barrier does not depend on which peer a rank is
                        Coordinator c = group.peer((r + round) % 4).coordinator().orElseThrow();
                        waits.add(pool.submit(() -> {
                            firstThree.countDown();
                            c.barrier(name, r, 4, LONG);
                            passed.incrementAndGet();
                            return null;
                        }));
                    }
                    firstThree.await();
                    assertEquals(0, passed.get(), "nobody passes while rank 3 is missing");
                    group.peer((3 + round) % 4).coordinator().orElseThrow().barrier(name, 3, 4, LONG);
                    for (Future<?> w : waits) {
                        w.get();
                    }
                    assertEquals(3, passed.get());
                }
                assertEquals(0, group.peer(0).service().openBarriers(), "released barriers are forgotten");
            } finally {
                pool.shutdownNow();
            }
        }
    }

    /**
     * allGather: every rank, on whichever peer (peer 0's own arrival included), gets every rank's token in rank order,
     * a long one and an empty one among them; a rank that arrives again with the same token counts once, and one that
     * arrives again with another token while its first arrival waits fails the barrier (two attempts of one rank:
     * {@link PeerBarrierAttemptsTest}).
     */
    @Test
    void allGatherHandsEveryRankTheTokenOfEveryRankInRankOrder() throws Exception {
        try (PeerGroup group = PeerGroup.start(4)) {
            ExecutorService pool = Executors.newCachedThreadPool();
            try {
                for (int round = 0; round < 4; round++) {
                    String name = "run/peer/" + round + "/committed";
                    List<String> expected = new ArrayList<>();
                    for (int r = 0; r < 4; r++) {
                        expected.add(r == 1 ? "" : r == 2 ? "x".repeat(70_000) + round : "created " + r + "-" + round);
                    }
                    List<Future<List<String>>> gathered = new ArrayList<>();
                    for (int rank = 0; rank < 4; rank++) {
                        int r = rank;
                        Coordinator c = group.peer((r + round) % 4).coordinator().orElseThrow(); // rank r is any peer
                        gathered.add(pool.submit(() -> c.allGather(name, r, 4, expected.get(r), LONG).orElseThrow()));
                    }
                    for (Future<List<String>> g : gathered) {
                        assertEquals(expected, g.get());
                    }
                }
                assertEquals(0, group.peer(0).service().openBarriers());
            } finally {
                pool.shutdownNow();
            }
        }
        PeerBarriers barriers = new PeerBarriers();
        LocalArrival first = new LocalArrival();
        LocalArrival again = new LocalArrival();
        LocalArrival zero = new LocalArrival();
        barriers.arrive(new PeerProtocol.Arrival("b", 1, 2, 60_000, "same"), first);
        barriers.arrive(new PeerProtocol.Arrival("b", 1, 2, 60_000, "same"), again);
        barriers.arrive(new PeerProtocol.Arrival("b", 0, 2, 60_000, "zero"), zero);
        assertEquals(List.of("zero", "same"), again.await("b", 60_000));
        assertEquals(List.of("zero", "same"), zero.await("b", 60_000));
        LocalArrival old = new LocalArrival();
        LocalArrival other = new LocalArrival();
        LocalArrival zeroAgain = new LocalArrival();
        barriers.arrive(new PeerProtocol.Arrival("c", 1, 2, 60_000, "old"), old);
        barriers.arrive(new PeerProtocol.Arrival("c", 1, 2, 60_000, "new"), other);
        barriers.arrive(new PeerProtocol.Arrival("c", 0, 2, 60_000, "zero"), zeroAgain);
        for (LocalArrival each : List.of(old, other, zeroAgain)) {
            assertTrue(assertThrows(PeerLink.PeerException.class, () -> each.await("c", 60_000)).conflicted());
        }
    }

    @Test
    void aMissingRankMakesTheOthersTimeOutAndTheBarrierIsForgotten() throws Exception {
        try (PeerGroup group = PeerGroup.start(3)) {
            CheckpointException e = assertThrows(CheckpointException.class,
                    () -> group.peer(1).coordinator().orElseThrow().barrier("run/peer/1/committed", 1, 3, Duration.ofMillis(300)));
            assertEquals(CheckpointException.Reason.TIMEOUT, e.reason());
            CheckpointException local = assertThrows(CheckpointException.class,
                    () -> group.peer(0).coordinator().orElseThrow().barrier("run/peer/1/committed", 0, 3, Duration.ofMillis(300)));
            assertEquals(CheckpointException.Reason.TIMEOUT, local.reason());
            // Both arrivals asked for 300 ms: the next arrival anywhere drops the stale barrier.
            Thread.sleep(400);
            Coordinator c = group.peer(2).coordinator().orElseThrow();
            assertThrows(CheckpointException.class, () -> c.barrier("run/peer/2/committed", 2, 3, Duration.ofMillis(50)));
            assertEquals(1, group.peer(0).service().openBarriers(), "only the newest, unfinished barrier is left");
        }
    }

    @Test
    void anArrivalForAnotherWorldSizeIsRefusedAndTheBarrierStillReleases() throws Exception {
        try (PeerGroup group = PeerGroup.start(2)) {
            ExecutorService pool = Executors.newSingleThreadExecutor();
            try {
                Future<?> rank1 = pool.submit(() -> {
                    group.peer(1).coordinator().orElseThrow().barrier("b", 1, 2, LONG);
                    return null;
                });
                while (group.peer(0).service().openBarriers() == 0) {
                    Thread.sleep(5); // until rank 1's arrival reached peer 0
                }
                Coordinator c0 = group.peer(0).coordinator().orElseThrow();
                CheckpointException wrong = assertThrows(CheckpointException.class, () -> c0.barrier("b", 0, 3, LONG));
                assertEquals(CheckpointException.Reason.STORAGE, wrong.reason());
                assertTrue(wrong.getMessage().contains("of 2 ranks"), wrong.getMessage());
                assertFalse(rank1.isDone());
                c0.barrier("b", 0, 2, LONG);
                rank1.get();
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void aRankArrivingTwiceCountsOnceAndItsEarlierCallIsAnsweredAsSuperseded() throws Exception {
        PeerBarriers barriers = new PeerBarriers();
        LocalArrival first = new LocalArrival();
        LocalArrival again = new LocalArrival();
        LocalArrival zero = new LocalArrival();
        barriers.arrive(new PeerProtocol.Arrival("b", 1, 2, 60_000), first);
        barriers.arrive(new PeerProtocol.Arrival("b", 1, 2, 60_000), again);
        PeerLink.PeerException superseded = assertThrows(PeerLink.PeerException.class, () -> first.await("b", 60_000));
        assertFalse(superseded.unreachable(), "not retried: " + superseded);
        assertEquals(1, barriers.open());
        barriers.arrive(new PeerProtocol.Arrival("b", 0, 2, 60_000), zero);
        again.await("b", 60_000);
        zero.await("b", 60_000);
        assertEquals(0, barriers.open());
    }

    /**
     * An arrival counts only while its rank waits. Rank 1 gave up (its await ended, as a remote call ends when its
     * deadline cancels it) while the barrier waited for rank 0, whose save was slower: rank 0's arrival must not release
     * the barrier with the token of a rank whose save already failed with TIMEOUT. Rank 1 arriving again does.
     */
    @Test
    void aRankWhoseWaitEndedNoLongerCountsAtTheBarrier() throws Exception {
        PeerBarriers barriers = new PeerBarriers();
        LocalArrival one = new LocalArrival();
        LocalArrival two = new LocalArrival();
        LocalArrival zero = new LocalArrival();
        barriers.arrive(new PeerProtocol.Arrival("b", 1, 3, 60_000, "one"), one);
        barriers.arrive(new PeerProtocol.Arrival("b", 2, 3, 60_000, "two"), two);
        assertThrows(PeerLink.PeerException.class, () -> one.await("b", 1), "rank 0 has not arrived");
        barriers.arrive(new PeerProtocol.Arrival("b", 0, 3, 60_000, "zero"), zero);
        assertFalse(zero.ended(), "released with the token of a rank that gave up");
        assertFalse(two.ended());
        assertEquals(1, barriers.open());
        LocalArrival oneAgain = new LocalArrival();
        barriers.arrive(new PeerProtocol.Arrival("b", 1, 3, 60_000, "one again"), oneAgain);
        assertEquals(List.of("zero", "one again", "two"), zero.await("b", 60_000));
        assertEquals(List.of("zero", "one again", "two"), two.await("b", 60_000));
    }

    /**
     * As above, for an arrival whose own timeout passed (its call may still look open here): a later arrival with a
     * longer timeout keeps the barrier, not the arrivals that expired.
     */
    @Test
    void anArrivalPastItsOwnTimeoutNoLongerCountsThoughALaterOneKeepsTheBarrier() throws Exception {
        PeerBarriers barriers = new PeerBarriers();
        LocalArrival one = new LocalArrival();
        LocalArrival two = new LocalArrival();
        LocalArrival zero = new LocalArrival();
        barriers.arrive(new PeerProtocol.Arrival("b", 1, 3, 1, "one"), one);
        barriers.arrive(new PeerProtocol.Arrival("b", 2, 3, 60_000, "two"), two);
        Thread.sleep(5); // past rank 1's millisecond; a slower machine only makes it more so
        barriers.arrive(new PeerProtocol.Arrival("b", 0, 3, 60_000, "zero"), zero);
        PeerLink.PeerException dropped = assertThrows(PeerLink.PeerException.class, () -> one.await("b", 60_000));
        assertTrue(dropped.getMessage().contains("past its timeout"), dropped.getMessage());
        assertFalse(zero.ended(), "released with the token of a rank past its timeout");
        assertEquals(1, barriers.open());
    }

    /**
     * A release lost on the way (the connection reset after peer 0 sent it): the rank sees UNAVAILABLE and arrives
     * again, as the same caller with the same token. It gets the same answer at once; before, it opened the barrier
     * anew alone and waited out its deadline, failing its save while the others went on. Another token under that name
     * is another round, and so is another caller ({@link PeerBarrierAttemptsTest}).
     */
    @Test
    void aRankWhoseReleaseWasLostArrivesAgainAndGetsTheSameAnswer() throws Exception {
        PeerBarriers barriers = new PeerBarriers();
        LocalArrival one = new LocalArrival();
        LocalArrival zero = new LocalArrival();
        barriers.arrive(new PeerProtocol.Arrival("b", 1, 2, 60_000, "one", 7), one);
        barriers.arrive(new PeerProtocol.Arrival("b", 0, 2, 60_000, "zero"), zero);
        assertEquals(List.of("zero", "one"), zero.await("b", 60_000));
        LocalArrival again = new LocalArrival();
        barriers.arrive(new PeerProtocol.Arrival("b", 1, 2, 60_000, "one", 7), again);
        assertTrue(again.ended(), "answered at once");
        assertEquals(List.of("zero", "one"), again.await("b", 60_000));
        assertEquals(0, barriers.open());
        LocalArrival other = new LocalArrival();
        barriers.arrive(new PeerProtocol.Arrival("b", 1, 2, 60_000, "another"), other);
        assertFalse(other.ended(), "another round waits for rank 0");
        assertEquals(1, barriers.open());
    }

    @Test
    void aRankWaitingWhenPeerZeroIsLostFailsWithTimeoutAtItsDeadline() throws Exception {
        try (PeerGroup group = PeerGroup.start(3)) {
            ExecutorService pool = Executors.newSingleThreadExecutor();
            try {
                CountDownLatch started = new CountDownLatch(1);
                // Rank 1 waits out this timeout, which also bounds its arrival at peer 0 that the test waits for before
                // killing peer 0: 10 s (not shorter) for a busy machine.
                Future<CheckpointException> waiting = pool.submit(() -> {
                    started.countDown();
                    return assertThrows(CheckpointException.class,
                            () -> group.peer(1).coordinator().orElseThrow().barrier("run/peer/9/indexed", 1, 3, Duration.ofSeconds(10)));
                });
                started.await();
                while (group.peer(0).service().openBarriers() == 0 && !waiting.isDone()) {
                    // Until rank 1's arrival reached peer 0; a wait that ended first (an arrival slower than the
                    // timeout) ends the loop too, instead of spinning forever, and its outcome is checked below.
                    Thread.sleep(5);
                }
                group.kill(0);
                CheckpointException e = waiting.get();
                // Peer 0 gone: the rank retries until its timeout (peer 0 may be restarting), then says TIMEOUT.
                assertEquals(CheckpointException.Reason.TIMEOUT, e.reason(), e.toString());
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
