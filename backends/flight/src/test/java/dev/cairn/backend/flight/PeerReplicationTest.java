package dev.cairn.backend.flight;

import static dev.cairn.backend.flight.PeerGroup.MIB;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.flight.CallStatus;
import org.apache.arrow.flight.FlightServer;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.NoOpFlightProducer;
import org.apache.arrow.flight.Ticket;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What the peer tier is for: a rank's checkpoint survives the loss of its process in the RAM of its peers, and
 * replication stays bounded (queue, bandwidth, memory) and out of the writer's way when peers are slow or dead.
 * Every peer's close checks that no Arrow memory leaked.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PeerReplicationTest {

    @Test
    void everyObjectOfADeadPeerIsReadFromItsReplicaByAnotherPeerAndByItsReplacement() throws Exception {
        try (PeerGroup group = PeerGroup.start(3)) {
            Map<String, byte[]> written = writeCheckpoint(group.peer(0), "run", 7, 0, 12);
            group.awaitReplication();
            assertEquals(written.size(), group.peer(0).metrics().replicasSent());
            // The same counts reach a metrics registry through the store's counters() and gauges().
            PeerMemoryMetrics m = group.peer(0).metrics();
            assertEquals(m.replicasSent(), group.peer(0).counters().get("replication.replicas.sent"));
            assertEquals(m.bytesReplicated(), group.peer(0).counters().get("replication.bytes"));
            assertEquals(group.peer(1).metrics().replicasReceived(), group.peer(1).counters().get("replication.replicas.received"));
            assertEquals(0L, group.peer(0).gauges().get("replication.lag.bytes"), "replication finished");
            assertEquals(group.peer(0).usedBytes(), group.peer(0).gauges().get("memory.used.bytes"));

            group.kill(0);
            assertHolds(group.peer(2), written);
            assertEquals(written.keySet().stream().sorted().toList(), keys(group.peer(2).list("run/")));
            assertTrue(group.peer(2).metrics().readsFromPeers() >= written.size(), group.peer(2).metrics().toString());

            PeerMemoryStore restarted = group.replace(0, b -> b);
            assertEquals(0, restarted.usedBytes(), "the new rank 0 starts with empty memory");
            assertHolds(restarted, written);
            assertTrue(restarted.list("run/steps/7/").stream().anyMatch(i -> i.key().endsWith("MANIFEST")));
        }
    }

    @Test
    void withTwoReplicasAnyOnePeerLostLosesNothing() throws Exception {
        for (int victim = 0; victim < 3; victim++) {
            try (PeerGroup group = PeerGroup.start(3, b -> b.replicationFactor(2))) {
                Map<String, byte[]> written = new LinkedHashMap<>();
                for (int rank = 0; rank < 3; rank++) {
                    written.putAll(writeCheckpoint(group.peer(rank), "run", 3, rank, 4));
                }
                group.awaitReplication();
                group.kill(victim);
                for (int survivor = 0; survivor < 3; survivor++) {
                    if (survivor != victim) {
                        assertHolds(group.peer(survivor), written);
                        assertEquals(written.size(), group.peer(survivor).list("run/").size());
                    }
                }
            }
        }
    }

    /**
     * Placement groups as failure domains: with groups {0, 1} and {2, 3} and one replica, each peer's objects land on
     * the other peer of its own group only, so losing a whole other group loses nothing of it, and losing a peer
     * leaves its objects readable from its group partner.
     */
    @Test
    void placementGroupsKeepReplicasInsideTheirGroup() throws Exception {
        try (PeerGroup group = PeerGroup.start(4, b -> b.placementGroups(List.of(List.of(0, 1), List.of(2, 3))))) {
            Map<String, byte[]> fromZero = writeCheckpoint(group.peer(0), "run", 1, 0, 6);
            Map<String, byte[]> fromThree = writeCheckpoint(group.peer(3), "run", 1, 3, 6);
            group.awaitReplication();
            assertEquals(fromZero.size(), group.peer(1).metrics().replicasReceived(), "peer 0's replicas on peer 1");
            assertEquals(fromThree.size(), group.peer(2).metrics().replicasReceived(), "peer 3's replicas on peer 2");
            assertEquals(0, group.peer(0).metrics().replicasReceived() + group.peer(3).metrics().replicasReceived());

            group.kill(2);
            group.kill(3);
            assertHolds(group.peer(1), fromZero); // the other group gone: nothing of this one lost
            group.kill(0);
            assertHolds(group.peer(1), fromZero); // and peer 0's objects live on in its partner
            assertEquals(fromZero.size(), group.peer(1).list("run/").size());
        }
    }

    @Test
    void aPeerThatIsDownAtWriteTimeBlocksNeitherWritesNorTheOtherReplica() throws Exception {
        try (PeerGroup group = PeerGroup.start(3, b -> b.replicationFactor(2))) {
            group.kill(1);
            long start = System.nanoTime();
            Map<String, byte[]> written = writeCheckpoint(group.peer(0), "run", 1, 0, 20);
            assertTrue(group.peer(0).awaitReplication(Duration.ofSeconds(10)));
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            // A dead peer would cost a connect timeout per replica (20 of them) if it were not marked down; the bound
            // leaves a busy machine room and still tells the two apart.
            assertTrue(millis < 15_000, "writes and replication took " + millis + " ms with a dead peer");

            PeerMemoryMetrics metrics = group.peer(0).metrics();
            assertEquals(written.size(), metrics.replicasSent(), "every replica reached the live target: " + metrics);
            assertEquals(written.size(), metrics.replicasDropped(), "every replica for the dead one is dropped: " + metrics);
            group.kill(0);
            assertHolds(group.peer(2), written);
        }
    }

    /**
     * A peer that is not up yet when another writes (its process starts later than the others, as a rank of a job often
     * does) still gets the replicas once it is: they were dropped for good before, and a step committed in peer memory
     * then lived in its writer's memory alone and was lost with it (RankChaosTest, trial 16 of the campaign of
     * 2026-12-06: a replacement rank could not restore step 13 that the survivors listed).
     */
    @Test
    void aPeerThatWasNotUpWhenAnotherWroteGetsItsReplicasOnceItIs() throws Exception {
        try (PeerGroup group = PeerGroup.start(2)) {
            group.kill(1);
            Map<String, byte[]> written = writeCheckpoint(group.peer(0), "run", 1, 0, 8);
            assertTrue(group.peer(0).awaitReplication(Duration.ofSeconds(30)));
            assertEquals(written.size(), group.peer(0).metrics().replicasDropped(), "peer 1 was not there");

            PeerMemoryStore late = group.replace(1, b -> b);
            long bytes = written.values().stream().mapToLong(b -> b.length).sum();
            // Waits for the replicas to land, not for a time: the test's own timeout bounds a failure.
            while (late.usedBytes() < bytes) {
                Thread.sleep(20);
            }
            group.kill(0);
            assertHolds(late, written);
        }
    }

    /**
     * A chunk's stored form depends on more than its content (the tensor's element size picks the codec), and a chunk
     * is created create-only, asking only its writer's memory: two peers can create one key in two forms. Ring 0 -> 1
     * -> 2 -> 0: peer 1 creates K in its form (its index records that form's length), peer 0 creates K in another, and
     * peer 0's replica lands on peer 1. It used to replace peer 1's object (a plain put on arrival), and peer 1's
     * committed step then named bytes of another form; a create-only replica leaves what the target holds, on either
     * lane, while a rewritten object's replica (a plain put's: an index) still replaces it.
     */
    @Test
    void aChunksReplicaNeverReplacesTheObjectItsTargetCreatedUnderTheKeyOnEitherLane() throws Exception {
        for (boolean overFlight : new boolean[] {false, true}) {
            String lane = overFlight ? "Flight" : "bulk lane";
            // Without connecting ahead, peer 0 asks peer 1's lane port at its first replica, after the announcement.
            try (PeerGroup group = PeerGroup.start(3, b -> b.connectAhead(false))) {
                if (overFlight) {
                    group.peer(1).service().announceBulkPort(0); // "no lane": peer 0's replicas to it go over Flight
                }
                String chunk = "run/chunks/ab/abcdef0123456789";
                byte[] formOfPeer1 = randomBytes(1, 3_000);
                byte[] formOfPeer0 = randomBytes(2, 5_000);
                assertTrue(group.peer(1).putIfAbsentSyncingNameLater(chunk, ByteBuffer.wrap(formOfPeer1)));
                assertTrue(group.peer(0).putIfAbsentSyncingNameLater(chunk, ByteBuffer.wrap(formOfPeer0)),
                        "peer 0 asks only its own memory");
                String index = "run/steps/1/rank-0.index";
                group.peer(1).put(index, ByteBuffer.wrap(randomBytes(3, 100)));
                byte[] rewritten = randomBytes(4, 200);
                group.peer(0).put(index, ByteBuffer.wrap(rewritten));
                group.awaitReplication();

                assertEquals(formOfPeer1.length, group.peer(1).stat(chunk).size(), lane);
                assertArrayEquals(formOfPeer1, bytesOf(group.peer(1).readAll(chunk)), lane + ": peer 1 keeps its own form");
                assertEquals(1, group.peer(1).metrics().replicasKept(), lane + ": " + group.peer(1).metrics());
                assertEquals(1L, group.peer(1).counters().get("replication.replicas.kept"), lane);
                assertEquals(2, group.peer(0).metrics().replicasSent(), lane + ": kept counts as delivered for the sender: "
                        + group.peer(0).metrics());
                assertArrayEquals(rewritten, bytesOf(group.peer(1).readAll(index)), lane + ": a plain put's replica replaces");
                assertArrayEquals(formOfPeer0, bytesOf(group.peer(0).readAll(chunk)), lane);
                group.kill(1);
                assertArrayEquals(formOfPeer1, bytesOf(group.peer(2).readAll(chunk)), lane + ": peer 1's replica on peer 2");
            }
        }
    }

    /**
     * A plain putIfAbsent (a MANIFEST, a rank's index) names the bytes its writer created, so its replica replaces a
     * stale object its target holds under the key, as a put's does; only a chunk's create is create-only on arrival.
     * The index of a replaced rank's re-save of a step: the peers were asked while its target, peer 1, could not
     * take it (full here; down in the field), the replica is tried again later, and meanwhile peer 1 holds the dead
     * attempt's index under the key. Kept there, the step's MANIFEST (naming the new index's digest) could not be
     * read from peer memory once the writer is lost.
     */
    @Test
    void aPlainPutIfAbsentsReplicaReplacesAStaleObjectItsTargetHolds() throws Exception {
        try (PeerGroup group = PeerGroup.start(3, b -> b.memoryLimitBytes(2 * MIB))) { // ring 0 -> 1 -> 2 -> 0
            String filler = fillPeer1(group);
            String index = "run/steps/7/rank-0.index";
            byte[] fresh = randomBytes(2, (int) MIB);
            assertTrue(group.peer(0).putIfAbsent(index, ByteBuffer.wrap(fresh)), "no peer holds it yet");
            group.awaitReplication();
            assertEquals(1, group.peer(0).metrics().replicasRefused(), "peer 1 was full: " + group.peer(0).metrics());

            byte[] stale = randomBytes(3, 100); // the dead attempt's index, arriving at peer 1 meanwhile
            group.peer(1).put(index, ByteBuffer.wrap(stale));
            group.peer(1).delete(filler); // room on peer 1 again: the retry is taken
            // Waits for the retry's answer (taken or kept), not for a time.
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(40);
            while (group.peer(1).metrics().replicasReceived() + group.peer(1).metrics().replicasKept() < 1) {
                assertTrue(System.nanoTime() - until < 0, "the retry has not reached peer 1 after 40 s: "
                        + group.peer(1).metrics() + "; sender " + group.peer(0).metrics());
                Thread.sleep(20);
            }
            assertEquals(0, group.peer(1).metrics().replicasKept(), group.peer(1).metrics().toString());
            group.kill(0);
            assertArrayEquals(fresh, bytesOf(group.peer(1).readAll(index)),
                    "the writer's index replaced the stale one, and outlives its writer");
        }
    }

    @Test
    void aPutBeyondTheMemoryLimitFailsNamingTheLimitAndKeepsWhatWasThere() throws Exception {
        try (PeerMemoryStore alone = PeerMemoryStore.start(PeerGroup.defaults(0, 1).memoryLimitBytes(MIB).build())) {
            alone.put("a", ByteBuffer.allocate(600 << 10));
            IOException full = assertThrows(IOException.class, () -> alone.put("b", ByteBuffer.allocate(600 << 10)));
            assertTrue(full.getMessage().contains(String.valueOf(MIB)), full.getMessage());
            assertThrows(IOException.class, () -> alone.putIfAbsent("c", ByteBuffer.allocate(600 << 10)));
            assertEquals(600 << 10, alone.stat("a").size());
            assertEquals(600 << 10, alone.usedBytes(), "object bytes, not the headroom allocated with them");
            assertThrows(NoSuchFileException.class, () -> alone.stat("b"));
        }
    }

    @Test
    void replicasBeyondAReceiversLimitAreRefusedAndCountedOnBothSides() throws Exception {
        try (PeerGroup group = PeerGroup.start(2, b -> b.memoryLimitBytes(64 * MIB))) {
            // Peer 1 restarts with room for 4 MiB of replicas only.
            PeerMemoryStore small = group.replace(1, b -> b.memoryLimitBytes(4 * MIB));
            for (int i = 0; i < 8; i++) {
                group.peer(0).put("chunks/" + i, ByteBuffer.wrap(randomBytes(i, (int) MIB)));
            }
            group.awaitReplication();

            PeerMemoryMetrics sender = group.peer(0).metrics();
            assertEquals(4, sender.replicasSent(), sender.toString());
            assertEquals(4, sender.replicasRefused(), "first tries: " + sender);
            // At least: the sender tries the refused ones again while they live, and peer 1 refuses each try.
            assertTrue(small.metrics().replicasRejected() >= 4, small.metrics().toString());
            assertEquals(4 * MIB, small.usedBytes());
        }
    }

    @Test
    void replicationKeepsToItsBandwidthLimit() throws Exception {
        // Slow enough that a put waiting for its replica could never pass for one that did not: the 8 MiB would take
        // 28 s at the least (one piece of burst, then 7 MiB at 256 KiB/s), while the puts, into memory, take
        // milliseconds, and the bound on them below leaves a busy machine seconds. The test does not wait for all of
        // it: the first 2 MiB show the limit, and closing the peers ends the rest.
        long bandwidth = 256 * 1024;
        try (PeerGroup group = PeerGroup.start(2, b -> b.replicationBandwidth(bandwidth))) {
            long start = System.nanoTime();
            for (int i = 0; i < 8; i++) {
                group.peer(0).put("chunks/" + i, ByteBuffer.wrap(randomBytes(i, (int) MIB)));
            }
            long putMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(putMillis < 15_000, "puts waited for replication: " + putMillis + " ms");

            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60); // bounds a hang, not a timing
            while (group.peer(0).metrics().bytesReplicated() < 2 * MIB) {
                assertTrue(System.nanoTime() - until < 0, "2 MiB not replicated in 60 s: " + group.peer(0).metrics());
                Thread.sleep(10);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            // One piece of burst, then 1 MiB at 256 KiB/s: 4 s at the least.
            assertTrue(seconds >= 3.5, "2 MiB replicated in " + seconds + " s at 256 KiB/s");
            assertTrue(group.peer(0).metrics().replicationLagBytes() > 0, "the rest is still queued, at the limit: "
                    + group.peer(0).metrics());
        }
    }

    /**
     * A replica left out of a full queue is remembered and sent once the queue has room: it used to be forgotten, and
     * a chunk is written (and so replicated) once and named by every later step, all lost with the writer.
     */
    @Test
    void aFullReplicationQueueDropsReplicasAfterThePutsDeadlineInsteadOfGrowingAndSendsThemLater() throws Exception {
        try (PeerGroup group = PeerGroup.start(2, b -> b.replicationBandwidth(MIB).replicationQueueBytes(2 * MIB)
                .callTimeout(Duration.ofMillis(300)).peerTimeout(Duration.ofMillis(300)))) {
            for (int i = 0; i < 8; i++) {
                // No bound on the put's time (a busy machine stretches it): the queue's size and the drops below are
                // what a put that waited for room, or a queue that grew, would get wrong.
                group.peer(0).put("chunks/" + i, ByteBuffer.wrap(randomBytes(i, (int) MIB)));
                assertTrue(group.peer(0).metrics().replicationLagBytes() <= 2 * MIB, group.peer(0).metrics().toString());
            }
            group.awaitReplication();
            PeerMemoryMetrics metrics = group.peer(0).metrics();
            assertTrue(metrics.replicasDropped() > 0, metrics.toString());
            awaitHolding(group.peer(1), 8 * MIB, group.peer(0));
            assertEquals(8 * MIB, group.peer(1).usedBytes(), "every replica, dropped at first or not");
            group.kill(0);
            for (int i = 0; i < 8; i++) {
                assertArrayEquals(randomBytes(i, (int) MIB), bytesOf(group.peer(1).readAll("chunks/" + i)));
            }
        }
    }

    /**
     * A replica its target refused because it was full for a moment (its collection frees a step only at the next
     * commit) is sent again once the target has room. It used to be counted and forgotten, while the object stayed
     * live: a content-addressed chunk is written, and so replicated, once and every later step reuses it, so the
     * writer's loss then lost every such step from peer memory.
     */
    @Test
    void aReplicaRefusedWhileItsTargetWasFullIsSentOnceTheTargetHasRoom() throws Exception {
        try (PeerGroup group = PeerGroup.start(3, b -> b.memoryLimitBytes(2 * MIB))) { // ring 0 -> 1 -> 2 -> 0
            String filler = fillPeer1(group);
            String chunk = "run/chunks/ab/reused";
            byte[] content = randomBytes(2, (int) MIB);
            assertTrue(group.peer(0).putIfAbsentSyncingNameLater(chunk, ByteBuffer.wrap(content)));
            group.awaitReplication();
            assertEquals(1, group.peer(0).metrics().replicasRefused(), "peer 1 was full: " + group.peer(0).metrics());

            group.peer(1).delete(filler); // room on peer 1 again
            awaitHolding(group.peer(1), MIB, group.peer(0));
            assertEquals(1, group.peer(1).metrics().replicasReceived(), group.peer(1).metrics().toString());
            assertEquals(0L, group.peer(0).gauges().get("replication.retries.pending"), "taken off before its try");
            group.kill(0);
            assertArrayEquals(content, bytesOf(group.peer(1).readAll(chunk)), "the live chunk survives its writer's loss");
        }
    }

    /** A refused replica whose object its writer deleted before the target had room is not sent: no key comes back. */
    @Test
    void aRefusedReplicaOfAnObjectDeletedMeanwhileIsNeverSent() throws Exception {
        try (PeerGroup group = PeerGroup.start(3, b -> b.memoryLimitBytes(2 * MIB))) { // ring 0 -> 1 -> 2 -> 0
            String filler = fillPeer1(group);
            String chunk = "run/chunks/ab/collected";
            assertTrue(group.peer(0).putIfAbsentSyncingNameLater(chunk, ByteBuffer.wrap(randomBytes(2, (int) MIB))));
            group.awaitReplication();
            assertEquals(1, group.peer(0).metrics().replicasRefused(), "peer 1 was full: " + group.peer(0).metrics());

            group.peer(0).delete(chunk); // garbage collection, through its writer: no try of it in flight after this
            group.peer(1).delete(filler); // room on peer 1 again
            // The next try finds the object gone and forgets it: waits for that, not for a time; the deadline bounds
            // a hang (a retry never tried, or never forgotten), far beyond the few seconds it takes on a busy machine.
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(40);
            while (group.peer(0).gauges().get("replication.retries.pending") > 0) {
                assertTrue(System.nanoTime() - until < 0, "peer 0 still has "
                        + group.peer(0).gauges().get("replication.retries.pending") + " retries pending after 40 s: "
                        + group.peer(0).metrics());
                Thread.sleep(20);
            }
            assertEquals(0, group.peer(1).usedBytes(), "nothing landed on peer 1");
            assertEquals(0, group.peer(1).metrics().replicasReceived(), group.peer(1).metrics().toString());
            assertThrows(NoSuchFileException.class, () -> group.peer(2).stat(chunk), "nor anywhere");
        }
    }

    @Test
    void aSixtyFourMebibyteObjectRoundTripsThroughAPeer() throws Exception {
        int size = 64 << 20;
        byte[] content = randomBytes(64, size);
        ByteBuffer source = ByteBuffer.allocateDirect(size);
        source.put(content).flip();
        try (PeerGroup group = PeerGroup.start(3)) {
            group.peer(0).put("big/object", source);
            group.awaitReplication();

            // Peer 2 holds no copy: every byte comes over Flight from peer 0.
            assertArrayEquals(content, bytesOf(group.peer(2).readAll("big/object")));
            ByteBuffer range = ByteBuffer.allocateDirect(3 << 20);
            assertEquals(3 << 20, group.peer(2).read("big/object", 40_000_001, range));
            assertArrayEquals(java.util.Arrays.copyOfRange(content, 40_000_001, 40_000_001 + (3 << 20)), bytesOf(range.flip()));

            group.kill(0); // and now from its replica on peer 1
            assertArrayEquals(content, bytesOf(group.peer(2).readAll("big/object")));
            assertEquals(0, group.peer(2).usedBytes());
        }
    }

    @Test
    void rankZeroSeesEveryRanksIndexAndCommitsTheManifestOnce() throws Exception {
        try (PeerGroup group = PeerGroup.start(3)) {
            for (int rank = 0; rank < 3; rank++) {
                group.peer(rank).put("run/steps/5/rank-" + rank + ".index", ByteBuffer.wrap(("index " + rank).getBytes(UTF_8)));
            }
            assertEquals(List.of("run/steps/5/rank-0.index", "run/steps/5/rank-1.index", "run/steps/5/rank-2.index"),
                    keys(group.peer(0).list("run/steps/5/")));
            assertTrue(group.peer(0).putIfAbsent("run/steps/5/MANIFEST", ByteBuffer.wrap("m".getBytes(UTF_8))));
            assertFalse(group.peer(2).putIfAbsent("run/steps/5/MANIFEST", ByteBuffer.wrap("other".getBytes(UTF_8))),
                    "a peer that holds the manifest is asked before creating");
            assertEquals("m", new String(bytesOf(group.peer(2).readAll("run/steps/5/MANIFEST")), UTF_8));

            group.awaitReplication(); // a delete through another peer than the writer races replicas still in flight
            group.peer(1).delete("run/steps/5/MANIFEST");
            for (int rank = 0; rank < 3; rank++) {
                int r = rank;
                assertThrows(NoSuchFileException.class, () -> group.peer(r).stat("run/steps/5/MANIFEST"));
            }
        }
    }

    @Test
    void aDeadPeerIsSkippedQuicklyAndAMissingKeyIsStillMissing() throws Exception {
        try (PeerGroup group = PeerGroup.start(3)) {
            group.peer(1).put("only/on/one", ByteBuffer.wrap("x".getBytes(UTF_8)));
            group.awaitReplication();
            group.kill(1);
            group.kill(2);
            long start = System.nanoTime();
            for (int i = 0; i < 20; i++) {
                NoSuchFileException missing = assertThrows(NoSuchFileException.class, () -> group.peer(0).stat("never/put"));
                assertEquals("never/put", missing.getFile());
            }
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(millis < 15_000, "20 lookups with two dead peers took " + millis + " ms"); // generous: a busy machine
            assertEquals(List.of(), group.peer(0).list(""));
            group.peer(0).connect(group.addresses()); // fresh links: the peers are asked again, and are gone
            assertThrows(NoSuchFileException.class, () -> group.peer(0).read("never/put", 0, ByteBuffer.allocate(0)));
            assertTrue(group.peer(0).metrics().peerCallFailures() >= 2);
        }
    }

    @Test
    void anEmptyReadStillTellsAMissingKeyFromAnEmptyRange() throws Exception {
        try (PeerGroup group = PeerGroup.start(2, b -> b.replicationFactor(0))) {
            group.peer(1).put("there", ByteBuffer.wrap("x".getBytes(UTF_8)));
            group.peer(1).put("empty", ByteBuffer.allocate(0));
            assertEquals(0, group.peer(0).read("there", 0, ByteBuffer.allocate(0)));
            assertEquals(0, group.peer(0).read("empty", 0, ByteBuffer.allocate(10)), "an empty object, from the peer");
            assertEquals(0, group.peer(0).read("there", 1, ByteBuffer.allocate(10)), "at the end of an object");
            assertThrows(NoSuchFileException.class, () -> group.peer(0).read("not/there", 0, ByteBuffer.allocate(0)));
        }
    }

    @Test
    void aPeerThatAnswersWithAnErrorFailsTheReadInsteadOfReportingTheKeyMissing() throws Exception {
        try (BufferAllocator allocator = new RootAllocator();
             FlightServer failing = FlightServer.builder(allocator, Location.forGrpcInsecure("127.0.0.1", 0),
                     new NoOpFlightProducer() {
                         @Override
                         public void getStream(CallContext context, Ticket ticket, ServerStreamListener listener) {
                             listener.error(CallStatus.RESOURCE_EXHAUSTED.withDescription("no transfer buffer").toRuntimeException());
                         }
                     }).build().start();
             PeerMemoryStore reader = PeerMemoryStore.start(PeerGroup.defaults(0, 2).replicationFactor(0).build())) {
            reader.connect(List.of(reader.address(), new InetSocketAddress("127.0.0.1", failing.getPort())));

            IOException failed = assertThrows(IOException.class, () -> reader.read("big", 0, ByteBuffer.allocate(10)));
            assertFalse(failed instanceof NoSuchFileException, failed.toString());
            assertTrue(failed.getMessage().contains("no transfer buffer"), failed.getMessage());
        }
    }

    @Test
    void aReadIsServedFromTheStoredObjectWithoutATransferBufferForIt() throws Exception {
        byte[] content = randomBytes(2, (int) (2 * MIB));
        try (PeerGroup group = PeerGroup.start(2, b -> b.transferBufferBytes(MIB).replicationFactor(0))) {
            group.peer(0).put("big", ByteBuffer.wrap(content));
            // peer 1 holds no copy: its reads are sent from peer 0's stored bytes, larger than either transfer buffer
            assertArrayEquals(content, bytesOf(group.peer(1).readAll("big")), "served from peer 0's stored bytes");
            ByteBuffer small = ByteBuffer.allocate(1000);
            assertEquals(1000, group.peer(1).read("big", 5, small));
            assertArrayEquals(java.util.Arrays.copyOfRange(content, 5, 1005), bytesOf(small.flip()));
        }
    }

    @Test
    void aReplicaIsReceivedStraightIntoTheStoresMemoryWithoutATransferBuffer() throws Exception {
        byte[] content = randomBytes(3, (int) (2 * MIB));
        try (PeerGroup group = PeerGroup.start(2, b -> b.transferBufferBytes(MIB))) {
            group.peer(0).put("big", ByteBuffer.wrap(content));
            group.awaitReplication();
            assertEquals(0, group.peer(0).metrics().replicasRefused(), "a replica twice the transfer buffer is taken");
            assertEquals(0, group.peer(0).metrics().replicasDropped());
            group.kill(0);
            assertArrayEquals(content, bytesOf(group.peer(1).readAll("big")), "peer 1's own copy");
        }
    }

    @Test
    void aReadLargerThanTheServersTransferBudgetIsServedInWindows() throws Exception {
        int size = 40 << 20; // more than one read window
        byte[] content = randomBytes(40, size);
        try (PeerGroup group = PeerGroup.start(2, b -> b.replicationFactor(0).transferBufferBytes(36 * MIB))) {
            group.peer(0).put("big", ByteBuffer.wrap(content));
            ByteBuffer dst = ByteBuffer.allocateDirect(size + 10);
            assertEquals(size, group.peer(1).read("big", 0, dst));
            assertArrayEquals(content, bytesOf(dst.flip()));
        }
    }

    @Test
    void aLongReadInParallelWindowsReturnsExactlyTheBytesUpToTheEndOfTheObject() throws Exception {
        int window = PeerProtocol.READ_WINDOW_BYTES;
        int size = PeerProtocol.READ_STREAMS * window + 12_345; // a whole read takes two rounds of windows
        byte[] content = randomBytes(41, size);
        try (PeerGroup group = PeerGroup.start(2, b -> b.replicationFactor(0))) {
            group.peer(0).put("big", ByteBuffer.wrap(content));
            ByteBuffer dst = ByteBuffer.allocateDirect(3 + size + window);
            for (int offset : new int[] {0, 1, window - 1, 2 * window + 7, size - 1, size, size + 3}) {
                for (int asked : new int[] {5, window, 2 * window + 1, size + window}) {
                    dst.clear().position(3).limit(3 + asked);
                    int expected = Math.max(0, Math.min(asked, size - offset));
                    assertEquals(expected, group.peer(1).read("big", offset, dst), "offset " + offset + ", asked " + asked);
                    assertEquals(3 + expected, dst.position());
                    dst.flip().position(3);
                    assertArrayEquals(java.util.Arrays.copyOfRange(content, Math.min(offset, size), Math.min(offset, size) + expected),
                            bytesOf(dst), "offset " + offset + ", asked " + asked);
                }
            }
        }
    }

    @Test
    void closingPeersInTheMiddleOfTransfersFreesEveryByteAndReturnsPromptly() throws Exception {
        PeerGroup group = PeerGroup.start(3, b -> b.replicationBandwidth(2 * MIB));
        try {
            ByteBuffer big = ByteBuffer.allocateDirect((int) (32 * MIB));
            // Replication to peer 1 takes ~15.5 s at 2 MiB/s (within the group's 20 s call timeout): still under way
            // when the check below comes, however busy the machine, and cut short by the close.
            group.peer(0).put("big", big);
            Thread reader = new Thread(() -> {
                try {
                    while (true) {
                        group.peer(2).read("big", 0, ByteBuffer.allocateDirect((int) (32 * MIB)));
                    }
                } catch (IOException | RuntimeException expected) {
                    // the peers went away under the reader
                }
            });
            reader.start();
            Thread.sleep(300); // lets the reader start a transfer too; not a bound: nothing below depends on it
            assertTrue(group.peer(0).metrics().replicationLagBytes() > 0, "still replicating when closed");
        } finally {
            long start = System.nanoTime();
            group.close(); // each close fails if its allocators still hold memory
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(millis < 15_000, "closing three peers mid-transfer took " + millis + " ms");
        }
    }

    /**
     * Closing while replication has just begun, at many moments: a put cancelled between Flight's readiness check and
     * its send, and a send still queued in Netty when the channel terminates, both once left a replica's buffers
     * allocated (found by running this loop for minutes beside busy CPUs; here it is a short regression net).
     */
    @Test
    void closingAtAnyMomentOfReplicationLeaksNothing() throws Exception {
        for (int round = 0; round < 40; round++) {
            PeerGroup group = PeerGroup.start(3, b -> b.replicationBandwidth(64 * MIB));
            try {
                for (int k = 0; k < 20; k++) {
                    group.peer(0).put("k" + k, ByteBuffer.allocateDirect(300 + k * 50_000));
                }
                Thread.sleep(round % 7);
            } finally {
                group.close(); // each close fails if its allocators still hold memory
            }
        }
    }

    // ---- helpers -------------------------------------------------------------------------------------------

    /** Chunks, an index and a create-only MANIFEST, laid out as the engine writes a rank's part of a step. */
    private static Map<String, byte[]> writeCheckpoint(ObjectStore store, String run, int step, int rank, int chunks)
            throws IOException {
        Map<String, byte[]> written = new LinkedHashMap<>();
        for (int c = 0; c < chunks; c++) {
            byte[] bytes = randomBytes(step * 1000L + rank * 100L + c, 1000 + c * 37_000);
            String hash = HexFormat.of().formatHex(java.nio.ByteBuffer.allocate(8).putLong(java.util.Arrays.hashCode(bytes) * 2654435761L).array());
            String key = run + "/chunks/" + hash.substring(0, 2) + "/" + hash + "-" + rank + "-" + c;
            store.put(key, ByteBuffer.wrap(bytes));
            written.put(key, bytes);
        }
        byte[] index = ("index of rank " + rank + ": " + written.keySet()).getBytes(UTF_8);
        String indexKey = run + "/steps/" + step + "/rank-" + rank + ".index";
        store.put(indexKey, ByteBuffer.wrap(index));
        written.put(indexKey, index);
        if (rank == 0) {
            byte[] manifest = ("manifest of step " + step).getBytes(UTF_8);
            String manifestKey = run + "/steps/" + step + "/MANIFEST";
            assertTrue(store.putIfAbsent(manifestKey, ByteBuffer.wrap(manifest)));
            written.put(manifestKey, manifest);
        }
        return written;
    }

    private static void assertHolds(ObjectStore store, Map<String, byte[]> written) throws IOException {
        for (Map.Entry<String, byte[]> entry : written.entrySet()) {
            assertArrayEquals(entry.getValue(), bytesOf(store.readAll(entry.getKey())), entry.getKey());
        }
    }

    /**
     * Waits until {@code target} holds {@code bytes} of objects: for replicas to land, not for a time. The deadline
     * bounds a hang (a replica never sent again), far beyond the few seconds of retries it takes on a busy machine.
     */
    private static void awaitHolding(PeerMemoryStore target, long bytes, PeerMemoryStore sender) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(40);
        while (target.usedBytes() < bytes) {
            assertTrue(System.nanoTime() - until < 0, "peer " + target.config().peerIndex() + " holds "
                    + target.usedBytes() + " of " + bytes + " bytes after 40 s; sender " + sender.metrics()
                    + ", retries pending " + sender.gauges().get("replication.retries.pending"));
            Thread.sleep(20);
        }
    }

    static byte[] randomBytes(long seed, int size) {
        byte[] bytes = new byte[size];
        new SplittableRandom(seed).nextBytes(bytes);
        return bytes;
    }

    static byte[] bytesOf(ByteBuffer buffer) {
        byte[] bytes = new byte[buffer.remaining()];
        buffer.duplicate().get(bytes);
        return bytes;
    }

    private static List<String> keys(List<ObjectInfo> infos) {
        List<String> keys = new ArrayList<>();
        infos.forEach(i -> keys.add(i.key()));
        return keys;
    }

    /**
     * Puts 1.5 MiB on peer 1 of a group whose peers hold 2 MiB, once its replica is sent: peer 1 then refuses a 1 MiB
     * replica. Returns the filler's key, whose delete makes room.
     */
    private static String fillPeer1(PeerGroup group) throws Exception {
        String filler = "run/chunks/ff/filler";
        group.peer(1).put(filler, ByteBuffer.wrap(randomBytes(1, (int) (1.5 * MIB))));
        group.awaitReplication();
        return filler;
    }
}
