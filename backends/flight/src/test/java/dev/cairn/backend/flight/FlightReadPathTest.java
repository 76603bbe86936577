package dev.cairn.backend.flight;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.backend.memory.MemoryObjectStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import org.apache.arrow.flight.Action;
import org.apache.arrow.flight.FlightProducer;
import org.apache.arrow.flight.FlightServer;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.NoOpFlightProducer;
import org.apache.arrow.flight.Result;
import org.apache.arrow.flight.Ticket;
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

    /**
     * A whole read over Flight (a peer without a reachable lane) is a STAT, then reads of the size it gave. Here the
     * object is replaced right after the STAT is answered, before the reads: by a longer version the reads used to
     * stop at the old length and return those bytes as the whole object; by a shorter one the object was reported not
     * held; by a shorter one and, before the second read, by one of the stat's length, the read returned the first
     * bytes of one joined to the rest of the other. Each now fails "changed while read", as ObjectStore.readAll does,
     * and a read again returns the newest version.
     */
    @Test
    void aWholeReadOverFlightOfAnObjectReplacedAfterItsStatFailsInsteadOfCuttingIt() throws Exception {
        byte[] first = PeerReplicationTest.randomBytes(1, 3_000);
        byte[][][] cases = { // {replacement after the STAT, replacement before the second READ or null}
            {PeerReplicationTest.randomBytes(2, 5_000), null},
            {PeerReplicationTest.randomBytes(3, 1_000), null},
            {PeerReplicationTest.randomBytes(4, 1_000), PeerReplicationTest.randomBytes(5, first.length)},
        };
        for (byte[][] replacements : cases) {
            try (BufferAllocator root = new RootAllocator(AllocationListener.NOOP, 1L << 30, s -> s);
                 BufferAllocator serving = root.newChildAllocator("serving", 0, 64L << 20);
                 BufferAllocator reading = root.newChildAllocator("reading", 0, 64L << 20);
                 ChannelDeadlines deadlines = new ChannelDeadlines("test-deadlines");
                 MemoryObjectStore memory = new MemoryObjectStore(root, 64L << 20)) {
                PeerService service = new PeerService(0, memory, serving, TimeUnit.SECONDS.toNanos(20), 0,
                        new LongAdder(), new LongAdder());
                memory.put("steps/1/rank-1.index", ByteBuffer.wrap(first));
                AtomicReference<byte[]> replaceAfterStat = new AtomicReference<>(replacements[0]);
                AtomicReference<byte[]> replaceBeforeSecondRead = new AtomicReference<>(replacements[1]);
                AtomicInteger reads = new AtomicInteger();
                FlightProducer replacing = new NoOpFlightProducer() {
                    @Override
                    public void getStream(CallContext context, Ticket ticket, ServerStreamListener listener) {
                        // The reader asks for its second window once the first came back.
                        byte[] replacement = reads.incrementAndGet() == 2 ? replaceBeforeSecondRead.getAndSet(null) : null;
                        if (replacement != null) {
                            try {
                                memory.put("steps/1/rank-1.index", ByteBuffer.wrap(replacement));
                            } catch (IOException e) {
                                throw new UncheckedIOException(e);
                            }
                        }
                        service.getStream(context, ticket, listener);
                    }

                    @Override
                    public void doAction(CallContext context, Action action, StreamListener<Result> listener) {
                        service.doAction(context, action, new StreamListener<>() {
                            @Override
                            public void onNext(Result result) {
                                listener.onNext(result);
                            }

                            @Override
                            public void onError(Throwable t) {
                                listener.onError(t);
                            }

                            @Override
                            public void onCompleted() {
                                // The STAT's answer is sent; the reader reads only once the call completes.
                                byte[] replacement = PeerProtocol.STAT_ACTION.equals(action.getType())
                                        ? replaceAfterStat.getAndSet(null) : null;
                                if (replacement != null) {
                                    try {
                                        memory.put("steps/1/rank-1.index", ByteBuffer.wrap(replacement));
                                    } catch (IOException e) {
                                        throw new UncheckedIOException(e);
                                    }
                                }
                                listener.onCompleted();
                            }
                        });
                    }
                };
                try (FlightServer server = FlightServer.builder(serving, Location.forGrpcInsecure("127.0.0.1", 0), replacing)
                        .build().start()) {
                    PeerLink link = new PeerLink(0, new InetSocketAddress("127.0.0.1", server.getPort()), reading,
                            20_000, 1_000, deadlines);
                    try {
                        String what = replacements[0].length + " bytes after the stat"
                                + (replacements[1] == null ? "" : ", " + replacements[1].length + " before the second read");
                        IOException changed = assertThrows(IOException.class,
                                () -> link.readWhole("steps/1/rank-1.index", 1 << 20), what);
                        assertTrue(changed.getMessage().contains("changed while read"), changed.getMessage());
                        replaceBeforeSecondRead.set(null); // that read failed at its first window: no second one
                        byte[] last = bytes(memory.readAll("steps/1/rank-1.index"));
                        assertArrayEquals(last, link.readWhole("steps/1/rank-1.index", 1 << 20), "read again: the new version");
                        assertArrayEquals(last, link.readWhole("steps/1/rank-1.index", last.length),
                                "an object exactly at the limit, read with the byte more");
                        assertEquals(null, link.readWhole("missing", 1 << 20));
                    } finally {
                        link.close();
                    }
                } finally {
                    service.close(1_000);
                }
            }
        }
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
                    // A whole read (stat, then rounds of READ_STREAMS windows) of an object larger than one round:
                    // each full round but the last must not be taken for one that ended early.
                    assertArrayEquals(content, link.readWhole("big", size), "read whole, at its limit");
                    assertArrayEquals(content, link.readWhole("big", 2L * size), "read whole, under its limit");
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

    private static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }
}
