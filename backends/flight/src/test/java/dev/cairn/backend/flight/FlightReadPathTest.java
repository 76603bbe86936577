package dev.cairn.backend.flight;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.backend.memory.MemoryObjectStore;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.apache.arrow.flight.FlightServer;
import org.apache.arrow.flight.Location;
import org.apache.arrow.memory.AllocationListener;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Reads from a peer that has no bulk lane (as a peer of an older version would answer the BULK action), or whose lane
 * cannot be connected to, go over Flight, in parallel windows, and return exactly the bytes; nothing leaks on either
 * side.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FlightReadPathTest {

    @Test
    void aPeerWithoutABulkLaneIsReadOverFlightInParallelWindowsByteForByte() throws Exception {
        readsOverFlight(0);
    }

    @Test
    void aBulkLaneThatCannotBeReachedLeavesTheReadsToFlight() throws Exception {
        int closed;
        try (ServerSocket gone = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closed = gone.getLocalPort(); // nothing listens there once this is closed: as if a firewall dropped it
        }
        readsOverFlight(closed);
    }

    private static void readsOverFlight(int bulkPort) throws Exception {
        int window = PeerProtocol.READ_WINDOW_BYTES;
        int size = PeerProtocol.READ_STREAMS * window + 12_345; // a whole read takes two rounds of windows
        byte[] content = PeerReplicationTest.randomBytes(42, size);
        try (BufferAllocator root = new RootAllocator(AllocationListener.NOOP, 1L << 30, s -> s);
             BufferAllocator serving = root.newChildAllocator("serving", 0, 256L << 20);
             BufferAllocator reading = root.newChildAllocator("reading", 0, 256L << 20);
             ChannelDeadlines deadlines = new ChannelDeadlines("test-deadlines")) {
            MemoryObjectStore memory = new MemoryObjectStore(root, 256L << 20);
            PeerService service = new PeerService(0, memory, serving, TimeUnit.SECONDS.toNanos(20), bulkPort,
                    new LongAdder(), new LongAdder());
            try (FlightServer server = FlightServer.builder(serving, Location.forGrpcInsecure("127.0.0.1", 0), service)
                    .build().start()) {
                memory.put("big", ByteBuffer.wrap(content));
                PeerLink link = new PeerLink(0, new InetSocketAddress("127.0.0.1", server.getPort()), reading,
                        20_000, 1_000, deadlines);
                try {
                    ByteBuffer dst = ByteBuffer.allocateDirect(size + window);
                    for (int offset : new int[] {0, 3, window + 1, size - 2, size}) {
                        for (int asked : new int[] {0, 7, window + 5, size + window}) {
                            dst.clear().limit(asked);
                            int expected = Math.max(0, Math.min(asked, size - offset));
                            assertEquals(expected, link.read("big", offset, dst), "offset " + offset + ", asked " + asked);
                            byte[] got = new byte[expected];
                            dst.flip().get(got);
                            assertArrayEquals(Arrays.copyOfRange(content, offset, offset + expected), got,
                                    "offset " + offset + ", asked " + asked);
                        }
                    }
                    assertEquals(-1, link.read("missing", 0, dst.clear()));
                } finally {
                    link.close();
                }
            } finally {
                service.close(1_000);
                memory.close();
                // Netty lets go of the last zero-copy pieces a moment after the server reports itself closed
                for (long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
                     (serving.getAllocatedMemory() > 0 || reading.getAllocatedMemory() > 0) && System.nanoTime() < end; ) {
                    Thread.sleep(1);
                }
            }
        } // each allocator's close fails on a leak
    }
}
