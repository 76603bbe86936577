package dev.cairn.backend.flight;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.cairn.ObjectInfo;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.NoSuchFileException;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * The serving side of the bulk lane: a plain TCP port beside the Flight server that answers READs (the same tickets,
 * see {@link PeerProtocol}) by writing the stored object's memory straight to the socket, from a shared view of it
 * ({@link MemoryObjectStore#share}): no copy in user space, and none of gRPC's per-frame work, so a read costs what
 * TCP itself costs. It also answers the small metadata calls (STAT, LIST, DELETE), which over gRPC cost a call's
 * set-up each, several milliseconds on a busy machine, and a restore or a commit makes many. Flight stays the protocol
 * for replication, barriers and peers without a lane; a peer learns this port through the BULK action.
 *
 * <p>Each connection is served by one thread of the peer's executor, requests and answers in turn. An answer not
 * taken within the call timeout closes the connection (a reader that stopped reading does not hold a thread or the
 * object's memory for longer). {@link #close} closes the port and every connection and waits for their threads.
 */
final class BulkServer implements AutoCloseable {
    private static final long CLOSE_WAIT_NANOS = TimeUnit.SECONDS.toNanos(5);
    private static final long ACCEPT_RETRY_MILLIS = 10;

    private final int peerIndex;
    private final MemoryObjectStore memory;
    private final ExecutorService executor;
    private final ChannelDeadlines deadlines;
    private final long callTimeoutNanos;
    private final ServerSocketChannel server;
    private final Set<SocketChannel> connections = ConcurrentHashMap.newKeySet();
    private final AtomicInteger running = new AtomicInteger();
    private final LongAdder replicasReceived;
    private final LongAdder replicasRefused;
    /** Create-only replicas of keys this peer held already, answered OK and not taken. */
    private final LongAdder replicasKept;
    private volatile boolean closed;

    /** As {@link PeerService#afterDelete}: what a DELETE from another peer waits for once the local copy is gone. */
    private volatile java.util.function.Consumer<String> afterDelete = key -> { };

    BulkServer(int peerIndex, String host, MemoryObjectStore memory, ExecutorService executor,
               ChannelDeadlines deadlines, long callTimeoutNanos) throws IOException {
        this(peerIndex, host, memory, executor, deadlines, callTimeoutNanos, new LongAdder(), new LongAdder(),
                new LongAdder());
    }

    BulkServer(int peerIndex, String host, MemoryObjectStore memory, ExecutorService executor,
               ChannelDeadlines deadlines, long callTimeoutNanos, LongAdder replicasReceived, LongAdder replicasRefused,
               LongAdder replicasKept) throws IOException {
        this.replicasKept = replicasKept;
        this.replicasReceived = replicasReceived;
        this.replicasRefused = replicasRefused;
        this.peerIndex = peerIndex;
        this.memory = memory;
        this.executor = executor;
        this.deadlines = deadlines;
        this.callTimeoutNanos = callTimeoutNanos;
        this.server = ServerSocketChannel.open().bind(new InetSocketAddress(host, 0));
        running.incrementAndGet();
        try {
            executor.execute(this::accept);
        } catch (RuntimeException e) {
            running.decrementAndGet();
            ChannelDeadlines.closeQuietly(server);
            throw e;
        }
    }

    /** Sets what a DELETE from another peer waits for once the local copy is gone. */
    void afterDelete(java.util.function.Consumer<String> wait) {
        this.afterDelete = wait;
    }

    int port() {
        return server.socket().getLocalPort();
    }

    private void accept() {
        try {
            while (!closed) {
                SocketChannel connection;
                try {
                    connection = server.accept();
                } catch (IOException e) {
                    if (closed || !server.isOpen()) {
                        return;
                    }
                    Thread.sleep(ACCEPT_RETRY_MILLIS); // out of file descriptors, say: keep serving once it passes
                    continue;
                }
                connections.add(connection);
                if (closed) {
                    ChannelDeadlines.closeQuietly(connection); // close() may have passed over it
                }
                running.incrementAndGet();
                try {
                    executor.execute(() -> serve(connection));
                } catch (RuntimeException e) {
                    connections.remove(connection);
                    running.decrementAndGet();
                    ChannelDeadlines.closeQuietly(connection);
                    throw e;
                }
            }
        } catch (InterruptedException | RuntimeException e) {
            // the executor is shutting down (interrupt, or a refused thread): stop accepting
        } finally {
            running.decrementAndGet();
        }
    }

    private void serve(SocketChannel connection) {
        ByteBuffer request = ByteBuffer.allocate(PeerProtocol.MAX_BULK_REQUEST_BYTES);
        ByteBuffer header = ByteBuffer.allocate(PeerProtocol.BULK_ANSWER_HEADER_BYTES);
        try (connection) {
            connection.socket().setTcpNoDelay(true);
            while (!closed && readRequest(connection, request)) {
                byte[] message = new byte[request.remaining()];
                request.get(message);
                byte kind = PeerProtocol.kindOf(message);
                switch (kind) {
                    case PeerProtocol.READ -> answer(connection, PeerProtocol.decodeRead(message), header);
                    case PeerProtocol.REPLICA -> receive(connection, PeerProtocol.decodeReplica(message), header);
                    case PeerProtocol.STATS -> answerStats(connection, PeerProtocol.decodeKeys(message), header);
                    case PeerProtocol.STAT, PeerProtocol.LIST, PeerProtocol.DELETE ->
                            answerMetadata(connection, kind, PeerProtocol.decodeKeyBody(message, kind), header);
                    default -> fail(connection, header, "peer " + peerIndex + ": the bulk lane does not answer requests of kind " + kind);
                }
            }
        } catch (IOException | RuntimeException e) {
            // the reader went away, sent garbage, or its answer ran past the deadline: this connection is over
        } finally {
            connections.remove(connection);
            running.decrementAndGet();
        }
    }

    /** The next request into {@code request} (flipped for reading); false at a clean end of the connection. */
    private static boolean readRequest(SocketChannel connection, ByteBuffer request) throws IOException {
        request.clear().limit(Integer.BYTES);
        if (!readFully(connection, request, true)) {
            return false;
        }
        int length = request.flip().getInt();
        if (length <= 0 || length > request.capacity()) {
            throw new IOException("bulk request of " + length + " bytes");
        }
        request.clear().limit(length);
        readFully(connection, request, false);
        request.flip();
        return true;
    }

    private void answer(SocketChannel connection, PeerProtocol.Read read, ByteBuffer header) throws IOException {
        if (read.offset() < 0 || read.length() < 0) {
            fail(connection, header, "negative offset or length in a read of " + read.key());
            return;
        }
        MemoryObjectStore.Lease object;
        try {
            object = memory.lease(read.key());
        } catch (NoSuchFileException e) {
            send(connection, header.clear().put(PeerProtocol.BULK_NOT_FOUND).putLong(0).flip());
            return;
        } catch (IOException e) {
            fail(connection, header, "peer " + peerIndex + ": " + e.getMessage());
            return;
        }
        ScheduledFuture<?> deadline = deadlines.closeAfter(connection, callTimeoutNanos);
        try (object) {
            long size = object.size();
            long start = Math.min(read.offset(), size);
            int length = (int) Math.min(read.length(), size - start);
            send(connection, header.clear().put(PeerProtocol.BULK_OK).putLong(length).flip());
            if (length > 0) {
                send(connection, object.bytes(start, length));
            }
        } finally {
            deadline.cancel(false);
        }
    }

    /**
     * A STAT, LIST or DELETE, answered as the Flight actions of the same name are: a small answer (an {@link
     * PeerProtocol#info} record, a {@link PeerProtocol#infos} listing, nothing), or NOT_FOUND for a STAT of a key this
     * peer does not hold. The lane serves them so that the metadata calls of a restore or a commit cost a TCP round
     * trip, not a gRPC call.
     */
    private void answerMetadata(SocketChannel connection, byte kind, String keyOrPrefix, ByteBuffer header) throws IOException {
        byte[] body;
        try {
            body = switch (kind) {
                case PeerProtocol.STAT -> PeerProtocol.info(memory.stat(keyOrPrefix));
                case PeerProtocol.LIST -> PeerProtocol.infos(memory.list(keyOrPrefix));
                default -> {
                    memory.delete(keyOrPrefix);
                    afterDelete.accept(keyOrPrefix);
                    yield new byte[0];
                }
            };
        } catch (NoSuchFileException e) {
            send(connection, header.clear().put(PeerProtocol.BULK_NOT_FOUND).putLong(0).flip());
            return;
        } catch (IOException | RuntimeException e) {
            fail(connection, header, "peer " + peerIndex + ": " + e.getMessage());
            return;
        }
        sendOk(connection, header, body);
    }

    /**
     * A replica sent over the lane: the REPLICA descriptor, then exactly its bytes, received whole within the call
     * timeout straight into the memory the store will keep it in ({@link MemoryObjectStore#reserve}: no transfer
     * buffer, no second copy) and only then put (as over Flight, a broken connection leaves no prefix). A replica
     * this peer cannot hold is still read to its end, so the connection stays in step, and refused. A create-only
     * replica of a key this peer holds is read to its end too and not taken: the object here stays, and the answer
     * is OK.
     */
    private void receive(SocketChannel connection, PeerProtocol.Replica replica, ByteBuffer header) throws IOException {
        if (replica.size() < 0 || replica.size() > Integer.MAX_VALUE) {
            throw new IOException("a replica of " + replica.size() + " bytes"); // garbage: this connection is over
        }
        ScheduledFuture<?> deadline = deadlines.closeAfter(connection, callTimeoutNanos);
        try {
            if (replica.createOnly() && memory.holds(replica.key())) {
                discard(connection, replica.size());
                replicasKept.increment();
                send(connection, header.clear().put(PeerProtocol.BULK_OK).putLong(0).flip());
                return;
            }
            long room = memory.limitBytes() - memory.usedBytes();
            MemoryObjectStore.Reservation reserved;
            try {
                reserved = memory.reserve(replica.key(), (int) replica.size());
            } catch (IOException badKey) {
                reserved = null; // refused like a full peer, read to its end first
            }
            if (reserved == null) {
                discard(connection, replica.size());
                refuse(connection, header, replica, room);
                return;
            }
            boolean kept = false;
            try (MemoryObjectStore.Reservation filling = reserved) {
                if (replica.size() > 0) {
                    readFully(connection, filling.buffer(), false);
                }
                if (!replica.createOnly()) {
                    filling.put();
                } else if (!filling.putIfAbsent()) {
                    kept = true; // created here (or arrived) while the replica was on its way
                }
            }
            (kept ? replicasKept : replicasReceived).increment();
            send(connection, header.clear().put(PeerProtocol.BULK_OK).putLong(0).flip());
        } finally {
            deadline.cancel(false);
        }
    }

    private void refuse(SocketChannel connection, ByteBuffer header, PeerProtocol.Replica replica, long room) throws IOException {
        replicasRefused.increment();
        byte[] text = ("peer " + peerIndex + " cannot hold replica " + replica.key() + " (" + replica.size()
                + " bytes): memory limit " + memory.limitBytes() + " bytes, " + room + " free").getBytes(UTF_8);
        send(connection, header.clear().put(PeerProtocol.BULK_REFUSED).putLong(text.length).flip());
        send(connection, ByteBuffer.wrap(text));
    }

    /** Reads and drops {@code bytes} bytes. */
    private static void discard(SocketChannel connection, long bytes) throws IOException {
        ByteBuffer scratch = ByteBuffer.allocate(64 << 10);
        for (long left = bytes; left > 0; left -= scratch.position()) {
            scratch.clear().limit((int) Math.min(scratch.capacity(), left));
            readFully(connection, scratch, false);
        }
    }

    /** Several keys' STAT: the infos of those this peer holds, as a listing. */
    private void answerStats(SocketChannel connection, List<String> keys, ByteBuffer header) throws IOException {
        List<ObjectInfo> held = new java.util.ArrayList<>(keys.size());
        try {
            for (String key : keys) {
                try {
                    held.add(memory.stat(key));
                } catch (NoSuchFileException absent) {
                    // left out
                }
            }
        } catch (IOException | RuntimeException e) {
            fail(connection, header, "peer " + peerIndex + ": " + e.getMessage());
            return;
        }
        byte[] body = PeerProtocol.infos(held);
        sendOk(connection, header, body);
    }

    /** A small answer (metadata): OK, its length, its bytes, within the call timeout. */
    private void sendOk(SocketChannel connection, ByteBuffer header, byte[] body) throws IOException {
        ScheduledFuture<?> deadline = deadlines.closeAfter(connection, callTimeoutNanos);
        try {
            send(connection, header.clear().put(PeerProtocol.BULK_OK).putLong(body.length).flip());
            send(connection, ByteBuffer.wrap(body));
        } finally {
            deadline.cancel(false);
        }
    }

    private static void fail(SocketChannel connection, ByteBuffer header, String message) throws IOException {
        byte[] text = message.getBytes(UTF_8);
        send(connection, header.clear().put(PeerProtocol.BULK_FAILED).putLong(text.length).flip());
        send(connection, ByteBuffer.wrap(text));
    }

    private static void send(SocketChannel connection, ByteBuffer bytes) throws IOException {
        while (bytes.hasRemaining()) {
            connection.write(bytes);
        }
    }

    /** Fills {@code into}; false if the connection ended before its first byte and {@code endOk}. */
    static boolean readFully(SocketChannel connection, ByteBuffer into, boolean endOk) throws IOException {
        int start = into.position();
        while (into.hasRemaining()) {
            if (connection.read(into) < 0) {
                if (endOk && into.position() == start) {
                    return false;
                }
                throw new EOFException("bulk connection ended " + into.remaining() + " bytes early");
            }
        }
        return true;
    }

    /** Closes the port and every connection (a thread blocked on one fails at once) and waits for the threads. */
    @Override
    public void close() throws InterruptedException {
        closed = true;
        ChannelDeadlines.closeQuietly(server);
        for (SocketChannel connection : connections) {
            ChannelDeadlines.closeQuietly(connection);
        }
        long deadline = System.nanoTime() + CLOSE_WAIT_NANOS;
        while (running.get() > 0 && System.nanoTime() - deadline < 0) {
            Thread.sleep(1);
        }
    }
}
