package dev.cairn.backend.flight;

import static dev.cairn.backend.flight.PeerGroup.MIB;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.flight.FlightServer;
import org.apache.arrow.flight.FlightStatusCode;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.NoOpFlightProducer;
import org.apache.arrow.flight.Ticket;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.VarBinaryVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The read path's two ends against stock Flight: {@link DirectRead} takes any Flight server's batches of one binary
 * column (rows of any number and size, empty batches), and this peer's server answers a stock Flight client.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DirectReadTest {
    private static final long TIMEOUT_MILLIS = 10_000;

    /** A stock Flight server that answers every DoGet with {@code batches}, each a list of row values. */
    private static FlightServer serving(BufferAllocator allocator, List<List<byte[]>> batches) throws Exception {
        return FlightServer.builder(allocator, Location.forGrpcInsecure("127.0.0.1", 0), new NoOpFlightProducer() {
            @Override
            public void getStream(CallContext context, Ticket ticket, ServerStreamListener listener) {
                try (VectorSchemaRoot root = VectorSchemaRoot.create(PeerProtocol.SCHEMA, allocator)) {
                    listener.start(root);
                    VarBinaryVector bytes = (VarBinaryVector) root.getVector(0);
                    for (List<byte[]> rows : batches) {
                        bytes.reset();
                        for (int i = 0; i < rows.size(); i++) {
                            bytes.setSafe(i, rows.get(i));
                        }
                        root.setRowCount(rows.size());
                        listener.putNext();
                    }
                    listener.completed();
                }
            }
        }).build().start();
    }

    private static ManagedChannel channelTo(FlightServer server) {
        return NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
    }

    @Test
    void copiesTheRowsOfEveryBatchInOrderWhateverTheirNumberAndSize() throws Exception {
        byte[] big = PeerReplicationTest.randomBytes(3, (int) (3 * MIB));
        List<List<byte[]>> batches = List.of(
                List.of(new byte[] {1, 2, 3}),
                List.of(),
                List.of(new byte[] {4}, new byte[0], new byte[] {5, 6, 7, 8, 9, 10, 11}),
                List.of(big),
                List.of(new byte[] {12, 13}));
        ByteArrayOutputStream expected = new ByteArrayOutputStream();
        batches.forEach(rows -> rows.forEach(expected::writeBytes));
        try (BufferAllocator allocator = new RootAllocator(); FlightServer server = serving(allocator, batches)) {
            ManagedChannel channel = channelTo(server);
            try {
                ByteBuffer dst = ByteBuffer.allocateDirect(expected.size() + 5);
                dst.position(5);
                int n = DirectRead.start(channel, new byte[] {0}, dst, TIMEOUT_MILLIS).await(TIMEOUT_MILLIS);
                assertEquals(expected.size(), n);
                assertEquals(5 + expected.size(), dst.position());
                byte[] got = new byte[n];
                dst.position(5).get(got);
                assertArrayEquals(expected.toByteArray(), got);
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void anAnswerLongerThanWhatWasAskedFailsTheReadAndLeavesThePositionAlone() throws Exception {
        List<List<byte[]>> batches = List.of(List.of(new byte[8]), List.of(new byte[8]));
        try (BufferAllocator allocator = new RootAllocator(); FlightServer server = serving(allocator, batches)) {
            ManagedChannel channel = channelTo(server);
            try {
                ByteBuffer dst = ByteBuffer.allocate(12);
                FlightRuntimeException failed = assertThrows(FlightRuntimeException.class,
                        () -> DirectRead.start(channel, new byte[] {0}, dst, TIMEOUT_MILLIS).await(TIMEOUT_MILLIS));
                assertEquals(FlightStatusCode.INTERNAL, failed.status().code());
                assertTrue(failed.getMessage().contains("were left to read"), failed.getMessage());
                assertEquals(0, dst.position());
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void aStockFlightClientReadsWhatAPeerServes() throws Exception {
        byte[] content = PeerReplicationTest.randomBytes(4, (int) (2 * MIB + 3));
        try (PeerMemoryStore peer = PeerMemoryStore.start(PeerGroup.defaults(0, 1).build());
             BufferAllocator allocator = new RootAllocator();
             FlightClient client = FlightClient.builder(allocator,
                     Location.forGrpcInsecure("127.0.0.1", peer.address().getPort())).build()) {
            peer.put("object", ByteBuffer.wrap(content));
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            try (FlightStream stream = client.getStream(new Ticket(PeerProtocol.read("object", 1, content.length)))) {
                while (stream.next()) {
                    VarBinaryVector bytes = (VarBinaryVector) stream.getRoot().getVector(0);
                    for (int row = 0; row < stream.getRoot().getRowCount(); row++) {
                        got.writeBytes(bytes.get(row));
                    }
                }
            }
            assertArrayEquals(java.util.Arrays.copyOfRange(content, 1, content.length), got.toByteArray());
        }
    }
}
