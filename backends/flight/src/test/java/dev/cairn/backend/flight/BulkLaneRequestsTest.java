package dev.cairn.backend.flight;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.ObjectInfo;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.apache.arrow.flight.FlightServer;
import org.apache.arrow.flight.Location;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * STAT, LIST, DELETE and replicas go over a peer's bulk lane when it has one that can be reached, with the answers the
 * Flight calls give, and over Flight otherwise. To tell which path answered, the lane here serves one store and the Flight
 * service another: each holds a key the other does not.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BulkLaneRequestsTest {

    @Test
    void metadataGoesOverTheBulkLaneWhenThePeerHasOne() throws Exception {
        withPeer(Lane.SERVED, (link, laneStore, flightStore, reading) -> {
            ObjectInfo stat = link.stat("steps/1/lane");
            assertEquals(laneStore.stat("steps/1/lane"), stat);
            assertNull(link.stat("steps/1/flight"), "the Flight store's key is not the lane's");
            assertNull(link.stat("steps/1/neither"));
            assertEquals(laneStore.list("steps/"), link.list("steps/"));
            assertEquals(List.of(), link.list("chunks/"));
            assertEquals(List.of(laneStore.stat("steps/1/lane")),
                    link.statAll(List.of("steps/1/flight", "steps/1/lane", "steps/1/neither")), "one STATS request");
            link.delete("steps/1/lane");
            link.delete("steps/1/neither"); // deleting what the peer does not hold is no error, as over Flight
            assertThrows(NoSuchFileException.class, () -> laneStore.stat("steps/1/lane"));
            assertEquals(1, flightStore.list("").size(), "nothing went to the Flight service");
        });
    }

    @Test
    void aPeerWithoutALaneOrWithAnUnreachableOneAnswersOverFlight() throws Exception {
        for (Lane lane : new Lane[] {Lane.NONE, Lane.UNREACHABLE}) {
            withPeer(lane, (link, laneStore, flightStore, reading) -> {
                assertEquals(flightStore.stat("steps/1/flight"), link.stat("steps/1/flight"), lane.name());
                assertNull(link.stat("steps/1/lane"), lane.name());
                assertEquals(flightStore.list("steps/"), link.list("steps/"), lane.name());
                assertEquals(List.of(flightStore.stat("steps/1/flight")),
                        link.statAll(List.of("steps/1/flight", "steps/1/lane")), lane.name());
                link.delete("steps/1/flight");
                assertEquals(List.of(), flightStore.list(""), lane.name());
            });
        }
    }

    /**
     * A link connected ahead (as a peer store does when it learns its peers) holds the lane's connections before its
     * first call, which takes one of them and gives it back instead of connecting; a lane that cannot be reached yet
     * leaves no connection and the link still answers over Flight; a peer not started yet is not marked down.
     */
    @Test
    void aLinkConnectedAheadServesItsFirstCallsOnConnectionsItAlreadyHas() throws Exception {
        withPeer(Lane.SERVED, (link, laneStore, flightStore, reading) -> {
            link.connectAhead(2);
            assertEquals(2, link.idleBulkConnections());
            assertEquals(laneStore.stat("steps/1/lane"), link.stat("steps/1/lane"), "answered over the lane");
            assertEquals(2, link.idleBulkConnections(), "no connection more");
        });
        withPeer(Lane.UNREACHABLE, (link, laneStore, flightStore, reading) -> {
            link.connectAhead(PeerProtocol.READ_STREAMS);
            assertEquals(0, link.idleBulkConnections());
            assertTrue(link.available());
            assertEquals(flightStore.stat("steps/1/flight"), link.stat("steps/1/flight"), "answered over Flight");
        });
        try (BufferAllocator reading = new RootAllocator(16L << 20);
             ChannelDeadlines deadlines = new ChannelDeadlines("test-deadlines")) {
            int closed;
            try (ServerSocket gone = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                closed = gone.getLocalPort();
            }
            PeerLink notStarted = new PeerLink(0, new InetSocketAddress("127.0.0.1", closed), reading, 2_000, 1_000, deadlines);
            try {
                notStarted.connectAhead(PeerProtocol.READ_STREAMS);
                assertEquals(0, notStarted.idleBulkConnections());
                assertTrue(notStarted.available(), "a peer not started yet is not marked down by a connection ahead");
            } finally {
                notStarted.close();
            }
        }
    }

    @Test
    void aLargeListingComesBackWhole() throws Exception {
        withPeer(Lane.SERVED, (link, laneStore, flightStore, reading) -> {
            for (int i = 0; i < 5_000; i++) {
                laneStore.put("chunks/" + Integer.toHexString(i) + "/" + "x".repeat(60), ByteBuffer.wrap(new byte[] {(byte) i}));
            }
            assertEquals(laneStore.list("chunks/"), link.list("chunks/"));
            List<String> keys = laneStore.list("chunks/").stream().map(ObjectInfo::key).toList();
            assertEquals(laneStore.list("chunks/"), link.statAll(keys), "5,000 keys in several STATS requests");
        });
    }

    @Test
    void replicasGoOverTheLaneWhenThePeerHasOneAndOverFlightOtherwise() throws Exception {
        byte[] content = PeerReplicationTest.randomBytes(7, 3 * PeerProtocol.PIECE_BYTES + 17); // several paced pieces
        for (Lane lane : Lane.values()) {
            withPeer(lane, (link, laneStore, flightStore, reading) -> {
                try (MemoryObjectStore sender = new MemoryObjectStore(reading.getRoot(), 16L << 20)) { // the sending peer's store, on the link's root
                    sender.put("chunks/ab/replica", ByteBuffer.wrap(content));
                    sender.put("chunks/ab/empty", ByteBuffer.allocate(0));
                    try (MemoryObjectStore.Lease object = sender.lease("chunks/ab/replica");
                         MemoryObjectStore.Lease empty = sender.lease("chunks/ab/empty")) {
                        link.replicate("chunks/ab/replica", false, object, reading, new TokenBucket(1L << 40, 1L << 30));
                        link.replicate("chunks/ab/empty", false, empty, reading, new TokenBucket(1L << 40, 1L << 30));
                    }
                }
                MemoryObjectStore holder = lane == Lane.SERVED ? laneStore : flightStore;
                MemoryObjectStore other = lane == Lane.SERVED ? flightStore : laneStore;
                assertArrayEquals(content, bytes(holder.readAll("chunks/ab/replica")), lane.name());
                assertEquals(0, holder.stat("chunks/ab/empty").size(), lane.name());
                assertThrows(NoSuchFileException.class, () -> other.stat("chunks/ab/replica"), lane.name());
            });
        }
    }

    /**
     * A create-only replica (a chunk's) of a key the peer holds is read to its end, answered OK and not taken, on
     * either lane, and the connection stays usable; a plain one (a rewritten index's) replaces what the peer holds.
     */
    @Test
    void aCreateOnlyReplicaLeavesTheObjectThePeerHoldsOnEitherLaneAndAPlainOneReplacesIt() throws Exception {
        byte[] held = PeerReplicationTest.randomBytes(8, 1_000);
        byte[] arriving = PeerReplicationTest.randomBytes(9, 2 * PeerProtocol.PIECE_BYTES + 5); // several pieces
        for (Lane lane : new Lane[] {Lane.SERVED, Lane.NONE}) {
            withPeer(lane, (link, laneStore, flightStore, reading) -> {
                MemoryObjectStore holder = lane == Lane.SERVED ? laneStore : flightStore;
                holder.put("chunks/ab/k", ByteBuffer.wrap(held));
                long used = holder.usedBytes();
                try (MemoryObjectStore sender = new MemoryObjectStore(reading.getRoot(), 16L << 20)) {
                    sender.put("chunks/ab/k", ByteBuffer.wrap(arriving));
                    try (MemoryObjectStore.Lease object = sender.lease("chunks/ab/k")) {
                        link.replicate("chunks/ab/k", true, object, reading, new TokenBucket(1L << 40, 1L << 30));
                        assertArrayEquals(held, bytes(holder.readAll("chunks/ab/k")), lane + ": kept");
                        assertEquals(used, holder.usedBytes(), lane + ": nothing of the replica stays");
                        link.replicate("chunks/ab/new", true, object, reading, new TokenBucket(1L << 40, 1L << 30));
                        assertArrayEquals(arriving, bytes(holder.readAll("chunks/ab/new")), lane + ": a new key is taken");
                        link.replicate("chunks/ab/k", false, object, reading, new TokenBucket(1L << 40, 1L << 30));
                        assertArrayEquals(arriving, bytes(holder.readAll("chunks/ab/k")), lane + ": a plain replica replaces");
                    }
                }
                assertEquals(lane == Lane.SERVED ? laneStore.stat("steps/1/lane") : null,
                        lane == Lane.SERVED ? link.stat("steps/1/lane") : null, "the link still answers");
            });
        }
    }

    @Test
    void aReplicaBeyondThePeersLimitIsRefusedOverTheLaneAndTheConnectionStaysUsable() throws Exception {
        withPeer(Lane.SERVED, (link, laneStore, flightStore, reading) -> {
            long room = laneStore.limitBytes() - laneStore.usedBytes();
            int size = (int) room + 1;
            try (BufferAllocator a = new RootAllocator(256L << 20); MemoryObjectStore sender = new MemoryObjectStore(a, 256L << 20)) {
                sender.put("chunks/cd/big", ByteBuffer.allocateDirect(size));
                MemoryObjectStore.Lease object = sender.lease("chunks/cd/big"); // never reaches Flight
                PeerLink.PeerException e;
                try (object) {
                    e = assertThrows(PeerLink.PeerException.class,
                            () -> link.replicate("chunks/cd/big", false, object, a, new TokenBucket(1L << 40, 1L << 30)));
                }
                assertTrue(e.refused(), e.getMessage());
                assertTrue(e.getMessage().contains("memory limit"), e.getMessage());
            }
            assertThrows(NoSuchFileException.class, () -> laneStore.stat("chunks/cd/big"));
            assertEquals(laneStore.stat("steps/1/lane"), link.stat("steps/1/lane"), "the link still answers");
        });
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }

    private enum Lane { SERVED, NONE, UNREACHABLE }

    @FunctionalInterface
    private interface Check {
        void run(PeerLink link, MemoryObjectStore laneStore, MemoryObjectStore flightStore, BufferAllocator reading) throws Exception;
    }

    private static void withPeer(Lane lane, Check check) throws Exception {
        ExecutorService executor = Executors.newCachedThreadPool();
        try (BufferAllocator root = new RootAllocator(256L << 20);
             BufferAllocator serving = root.newChildAllocator("serving", 0, 64L << 20);
             BufferAllocator reading = root.newChildAllocator("reading", 0, 64L << 20);
             ChannelDeadlines deadlines = new ChannelDeadlines("test-deadlines");
             MemoryObjectStore laneStore = new MemoryObjectStore(root, 64L << 20);
             MemoryObjectStore flightStore = new MemoryObjectStore(root, 64L << 20)) {
            laneStore.put("steps/1/lane", ByteBuffer.wrap(new byte[] {1, 2, 3}));
            flightStore.put("steps/1/flight", ByteBuffer.wrap(new byte[] {4, 5}));
            BulkServer bulk = lane == Lane.SERVED ? new BulkServer(0, "127.0.0.1", laneStore, executor, deadlines,
                    TimeUnit.SECONDS.toNanos(20)) : null;
            int port = switch (lane) {
                case SERVED -> bulk.port();
                case NONE -> 0;
                case UNREACHABLE -> {
                    try (ServerSocket gone = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                        yield gone.getLocalPort();
                    }
                }
            };
            PeerService service = new PeerService(0, flightStore, serving, TimeUnit.SECONDS.toNanos(20), port,
                    new LongAdder(), new LongAdder());
            try (FlightServer server = FlightServer.builder(serving, Location.forGrpcInsecure("127.0.0.1", 0), service)
                    .build().start()) {
                PeerLink link = new PeerLink(0, new InetSocketAddress("127.0.0.1", server.getPort()), reading, 20_000, 1_000,
                        deadlines);
                try {
                    check.run(link, laneStore, flightStore, reading);
                } finally {
                    link.close();
                }
            } finally {
                service.close(1_000);
                if (bulk != null) {
                    bulk.close();
                }
            }
        } finally {
            executor.shutdownNow();
        }
    }
}
