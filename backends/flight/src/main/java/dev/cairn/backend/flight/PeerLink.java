package dev.cairn.backend.flight;

import dev.cairn.ObjectInfo;
import dev.cairn.ObjectTooLargeException;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.ChannelOption;
import java.io.EOFException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.apache.arrow.flight.Action;
import org.apache.arrow.flight.CallOptions;
import org.apache.arrow.flight.CallStatus;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightDescriptor;
import org.apache.arrow.flight.FlightGrpcUtils;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.flight.FlightStatusCode;
import org.apache.arrow.flight.PutResult;
import org.apache.arrow.flight.Result;
import dev.cairn.backend.memory.MemoryObjectStore;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * This peer's connection to one other peer. A peer that fails to answer (refused, reset, past its deadline) is
 * marked down for {@link #DOWN_NANOS}: calls skip it at once meanwhile, so a dead peer costs one connect
 * timeout, not one per call. After that the connection is tried afresh (gRPC's own reconnect backoff reset).
 */
final class PeerLink implements AutoCloseable {
    static final long DOWN_NANOS = TimeUnit.MILLISECONDS.toNanos(500);
    private static final int BULK_PORT_UNKNOWN = -1;
    private static final int NO_BULK_LANE = 0;
    /** {@link #readBulk}'s answer when the lane cannot be connected to: Flight then serves this link's reads. */
    private static final int LANE_UNREACHABLE = Integer.MIN_VALUE;
    /** Bytes one bulk request, or one round of parallel Flight windows, asks for: well within a call timeout. */
    private static final int ROUND_BYTES = PeerProtocol.READ_STREAMS * PeerProtocol.READ_WINDOW_BYTES;
    /** A metadata answer over the bulk lane for a key the peer does not hold. */
    private static final byte[] NOT_HELD = new byte[0];
    /** Keys in one STATS request over the bulk lane: well inside its request limit for keys of 100 bytes. */
    private static final int STATS_PER_REQUEST = 256;
    /** A whole read's answer for an object above the reader's limit. */
    private static final byte[] TOO_LARGE = new byte[0];
    /** The largest metadata answer (a listing) read from a peer: far above a run's listing, far below the heap. */
    private static final int MAX_BULK_METADATA_BYTES = 256 << 20;
    /** The longest error message a bulk answer may carry. */
    private static final int MAX_BULK_MESSAGE_BYTES = 64 << 10;
    private static final long CLOSE_WAIT_NANOS = TimeUnit.SECONDS.toNanos(5);
    private static final long MIN_PARK_NANOS = TimeUnit.MICROSECONDS.toNanos(10);
    private static final long MAX_PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

    /** How a call to a peer ended when it did not succeed. */
    static final class PeerException extends IOException {
        private static final long serialVersionUID = 1L;
        private final FlightStatusCode code;

        PeerException(String message, FlightStatusCode code, Throwable cause) {
            super(message, cause);
            this.code = code;
        }

        /** The peer answered that it cannot hold a replica: its memory limit. */
        boolean refused() {
            return code == FlightStatusCode.RESOURCE_EXHAUSTED;
        }

        /** The call's deadline passed. */
        boolean timedOut() {
            return code == FlightStatusCode.TIMED_OUT;
        }

        /**
         * Peer 0 failed a barrier arrival because another arrival of the same rank counts instead: one with another
         * token (two attempts of one rank, {@link PeerBarriers}), or a retry of this very arrival.
         */
        boolean conflicted() {
            return code == FlightStatusCode.ALREADY_EXISTS;
        }

        /** The peer did not answer (gone, unreachable, too slow), rather than answering with an error. */
        boolean unreachable() {
            return isUnreachable(code);
        }
    }

    private final int index;
    private final InetSocketAddress address;
    private final ManagedChannel channel;
    /**
     * Connections for the windows of one large read, {@code readChannels[0]} being {@link #channel}: each TCP
     * connection is served by one event-loop thread on either side, so one connection caps a read at what one
     * core can frame and copy. gRPC connects each one lazily, at its first call.
     */
    private final ManagedChannel[] readChannels;
    private final FlightClient client;
    private final BufferAllocator allocator;
    private final long callTimeoutMillis;
    private final long peerTimeoutMillis;
    private final ChannelDeadlines deadlines;
    /** The peer's bulk lane: its port once asked ({@link #NO_BULK_LANE} if it has none), idle and busy connections. */
    private volatile int bulkPort = BULK_PORT_UNKNOWN;
    private final ConcurrentLinkedDeque<SocketChannel> idleBulk = new ConcurrentLinkedDeque<>();
    private final Set<SocketChannel> busyBulk = ConcurrentHashMap.newKeySet();
    /** Calls running on this link; close waits for them. */
    private final AtomicInteger calls = new AtomicInteger();
    private volatile boolean closing;
    private volatile long downUntil;
    private volatile boolean down;

    PeerLink(int index, InetSocketAddress address, BufferAllocator allocator, long callTimeoutMillis, long peerTimeoutMillis,
             ChannelDeadlines deadlines) {
        this.index = index;
        this.deadlines = deadlines;
        this.address = address;
        this.allocator = allocator;
        this.callTimeoutMillis = callTimeoutMillis;
        this.peerTimeoutMillis = peerTimeoutMillis;
        this.readChannels = new ManagedChannel[PeerProtocol.READ_STREAMS];
        for (int i = 0; i < readChannels.length; i++) {
            readChannels[i] = channel(address, peerTimeoutMillis);
        }
        this.channel = readChannels[0];
        this.client = FlightGrpcUtils.createFlightClient(allocator, channel);
    }

    private static ManagedChannel channel(InetSocketAddress address, long peerTimeoutMillis) {
        return NettyChannelBuilder.forAddress(address)
                .usePlaintext()
                // no transparent retries: gRPC would buffer a put's message and send it again after Flight released
                // its zero-copy buffers; replication retries whole replicas itself. Reads and metadata calls lose
                // them too: a call caught by a closing connection fails as UNAVAILABLE and marks the peer down for
                // DOWN_NANOS, after which it is tried again (reads fall back to the other peers meanwhile)
                .disableRetry()
                .maxInboundMessageSize(PeerProtocol.MAX_MESSAGE_BYTES)
                .flowControlWindow(PeerProtocol.FLOW_CONTROL_WINDOW_BYTES)
                .withOption(ChannelOption.TCP_NODELAY, true)
                .withOption(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, peerTimeoutMillis))
                .build();
    }

    int index() {
        return index;
    }

    InetSocketAddress address() {
        return address;
    }

    /** Whether calls should try this peer now; false while it is marked down. */
    boolean available() {
        if (!down) {
            return true;
        }
        if (System.nanoTime() - downUntil < 0) {
            return false;
        }
        down = false;
        for (ManagedChannel c : readChannels) {
            c.resetConnectBackoff();
        }
        return true;
    }

    /**
     * Ends a down mark now, as {@link #available} does once it has expired, and the connection's backoff: the next
     * call dials the peer again (a listing that must hear every peer, {@code PeerMemoryStore#listWhole}).
     */
    void retryNow() {
        down = false;
        for (ManagedChannel c : readChannels) {
            c.resetConnectBackoff();
        }
    }

    /** Marks this peer down for {@link #DOWN_NANOS}, as a failed call does: calls skip it meanwhile. */
    void markDown() {
        downUntil = System.nanoTime() + DOWN_NANOS;
        down = true;
    }

    /**
     * Waits until the link's Flight connection is ready, dialing it if idle, for at most the peer timeout: false as
     * soon as a dial fails (a host that refuses the connection answers at once; one that does not answer takes the
     * connect timeout, which is the peer timeout). A call made while the connection is in backoff fails at once
     * without dialing, so a caller that must hear this peer ({@code PeerMemoryStore#listWhole}) waits here first.
     */
    boolean awaitConnected() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(peerTimeoutMillis);
        boolean dialed = false;
        io.grpc.ConnectivityState state = channel.getState(true);
        while (state != io.grpc.ConnectivityState.READY) {
            if (state == io.grpc.ConnectivityState.SHUTDOWN
                    || (state == io.grpc.ConnectivityState.TRANSIENT_FAILURE && dialed)) {
                return false;
            }
            if (state == io.grpc.ConnectivityState.TRANSIENT_FAILURE) {
                channel.resetConnectBackoff(); // in backoff from an earlier dial: dial now
            }
            dialed |= state == io.grpc.ConnectivityState.CONNECTING;
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            java.util.concurrent.CountDownLatch changed = new java.util.concurrent.CountDownLatch(1);
            channel.notifyWhenStateChanged(state, changed::countDown);
            changed.await(left, TimeUnit.NANOSECONDS);
            state = channel.getState(true);
        }
        return true;
    }

    /**
     * Reads up to {@code dst.remaining()} bytes of {@code key} from {@code offset} into {@code dst}; returns the
     * bytes read, or -1 if the peer does not hold the key. Over the peer's bulk lane when it has one and it can be
     * reached ({@link BulkServer}: the bytes as TCP carries them, in requests of {@link #ROUND_BYTES}), else over
     * Flight, in windows of at most {@link PeerProtocol#READ_WINDOW_BYTES}, up to {@link PeerProtocol#READ_STREAMS}
     * of them in flight at once, each on its own connection. Each request or window is one version of the object.
     */
    int read(String key, long offset, ByteBuffer dst) throws IOException {
        enter();
        int start = dst.position();
        try {
            int port = bulkPort();
            int total = 0;
            while (true) { // at least one request, so that an empty read still learns whether the peer holds the key
                int asked = Math.min(dst.remaining(), ROUND_BYTES);
                int n;
                if (port == NO_BULK_LANE) {
                    n = readRound(key, offset + total, dst);
                } else {
                    n = readBulk(key, offset + total, dst, asked, port);
                    if (n == LANE_UNREACHABLE) {
                        port = NO_BULK_LANE; // say, a firewall that lets only the Flight port through
                        continue;
                    }
                }
                if (n < 0) {
                    return total == 0 ? -1 : total; // deleted between two requests: what was read stands
                }
                total += n;
                if (n < asked || !dst.hasRemaining()) {
                    return total; // the end of the object, or of dst
                }
            }
        } catch (IOException | RuntimeException e) {
            // Rounds read before the one that failed moved the position: the next peer asked reads into dst from here.
            dst.position(start);
            throw e;
        } finally {
            calls.decrementAndGet();
        }
    }

    /** The peer's bulk port, asked once over Flight; {@link #NO_BULK_LANE} for a peer without one. */
    private int bulkPort() throws IOException {
        int port = bulkPort;
        if (port != BULK_PORT_UNKNOWN) {
            return port;
        }
        try {
            port = askBulkPort();
        } catch (FlightRuntimeException e) {
            throw failed("ask for the bulk port", e);
        }
        bulkPort = port;
        return port;
    }

    /** One BULK action (on a fresh link it also connects Flight's channel); FlightRuntimeException as it failed. */
    private int askBulkPort() {
        try {
            // with the read's deadline: on a fresh link this call also connects, and it stands for the read
            Iterator<Result> results = client.doAction(new Action(PeerProtocol.BULK_ACTION, PeerProtocol.keyBody(PeerProtocol.BULK, "")),
                    CallOptions.timeout(callTimeoutMillis, TimeUnit.MILLISECONDS));
            int port = PeerProtocol.decodeBulkPort(results.next().getBody());
            drain(results);
            return port;
        } catch (FlightRuntimeException e) {
            if (e.status().code() != FlightStatusCode.UNIMPLEMENTED) {
                throw e;
            }
            return NO_BULK_LANE; // a peer of a version without one: Flight it is
        }
    }

    /** Connections of the bulk lane kept idle for the next calls, for tests. */
    int idleBulkConnections() {
        return idleBulk.size();
    }

    /**
     * Connects this link before its first call, so that a process's first reads from this peer (a replacement's first
     * restore) do not pay for it: Flight's channel and the bulk port asked, and {@code connections} connections to
     * the bulk lane opened and kept idle for the first calls. Quiet: a peer that cannot be reached now is neither
     * marked down nor loses its lane; its first call connects as before.
     */
    void connectAhead(int connections) {
        if (closing || bulkPort != BULK_PORT_UNKNOWN) {
            return;
        }
        calls.incrementAndGet();
        try {
            if (closing) {
                return;
            }
            int port;
            try {
                port = askBulkPort();
            } catch (RuntimeException unreachable) {
                // Not started yet, say: gRPC would wait out its connect backoff before the first real call tried again.
                for (ManagedChannel c : readChannels) {
                    c.resetConnectBackoff();
                }
                return;
            }
            bulkPort = port;
            for (int i = 0; i < connections && port != NO_BULK_LANE && !closing; i++) {
                idleBulk.addLast(openBulk(port));
            }
        } catch (IOException | RuntimeException e) {
            // the first call connects, and reports what fails
        } finally {
            calls.decrementAndGet();
        }
        if (closing) {
            closeBulk(); // close may have emptied the idle connections before the last one was added
        }
    }

    /**
     * One READ window of {@code asked} bytes over the bulk lane, on an idle connection or a new one; the bytes go
     * straight from the socket into {@code dst}. Returns the bytes read or -1 if the peer does not hold the key.
     */
    private int readBulk(String key, long offset, ByteBuffer dst, int asked, int port) throws IOException {
        Integer n = overBulk(port, "read " + key, PeerProtocol.read(key, offset, asked), (connection, length) -> {
            if (length < 0) {
                return -1;
            }
            if (length > asked) {
                throw new PeerException(this + ": read " + key + ": peer sent " + length + " bytes where "
                        + asked + " were asked", FlightStatusCode.INTERNAL, null);
            }
            int start = dst.position();
            BulkServer.readFully(connection, dst.duplicate().limit(start + (int) length), false);
            dst.position(start + (int) length);
            return (int) length;
        });
        return n == null ? LANE_UNREACHABLE : n;
    }

    /**
     * A STAT, LIST or DELETE over the bulk lane: the answer's body, {@link #NOT_HELD} if the peer does not hold the
     * key, or null if the lane cannot be reached (the caller then asks over Flight).
     */
    private byte[] metadataBulk(byte kind, String keyOrPrefix, int port) throws IOException {
        String what = (kind == PeerProtocol.STAT ? "stat " : kind == PeerProtocol.LIST ? "list " : "delete ") + keyOrPrefix;
        return overBulk(port, what, PeerProtocol.keyBody(kind, keyOrPrefix), (connection, length) -> {
            if (length < 0) {
                return NOT_HELD;
            }
            if (length > MAX_BULK_METADATA_BYTES) {
                throw new PeerException(this + ": " + what + ": an answer of " + length + " bytes", FlightStatusCode.INTERNAL, null);
            }
            ByteBuffer body = ByteBuffer.allocate((int) length);
            BulkServer.readFully(connection, body, false);
            return body.array();
        });
    }

    /** Reads a bulk answer's body, given the length its header announced (-1: the peer does not hold the key). */
    @FunctionalInterface
    private interface BulkAnswer<T> {
        T read(SocketChannel connection, long length) throws IOException;
    }

    /**
     * Sends {@code request} over an idle connection of the bulk lane or a new one and reads the answer, all within the
     * call timeout; returns null if the lane cannot be connected to. An answer read in full leaves its connection
     * reusable; a refusal ({@code BULK_FAILED}) fails the call with the peer's message.
     */
    private <T> T overBulk(int port, String what, byte[] request, BulkAnswer<T> answer) throws IOException {
        return overBulk(port, what, request, null, answer);
    }

    /** Writes what follows a request on its connection (a replica's bytes). */
    @FunctionalInterface
    private interface BulkPayload {
        void write(SocketChannel connection) throws IOException;
    }

    private <T> T overBulk(int port, String what, byte[] request, BulkPayload payload, BulkAnswer<T> answer) throws IOException {
        SocketChannel connection = idleBulk.pollFirst();
        if (connection == null) {
            connection = connectBulk(port);
            if (connection == null) {
                return null;
            }
        }
        busyBulk.add(connection);
        ScheduledFuture<?> deadline = deadlines.closeAfter(connection, TimeUnit.MILLISECONDS.toNanos(callTimeoutMillis));
        boolean reusable = false;
        try {
            ByteBuffer framed = ByteBuffer.allocate(Integer.BYTES + request.length).putInt(request.length).put(request).flip();
            while (framed.hasRemaining()) {
                connection.write(framed);
            }
            if (payload != null) {
                payload.write(connection);
            }
            ByteBuffer header = ByteBuffer.allocate(PeerProtocol.BULK_ANSWER_HEADER_BYTES);
            BulkServer.readFully(connection, header, false);
            byte status = header.flip().get();
            long length = header.getLong();
            switch (status) {
                case PeerProtocol.BULK_OK -> {
                    if (length < 0) {
                        throw new PeerException(this + ": " + what + ": an answer of " + length + " bytes", FlightStatusCode.INTERNAL, null);
                    }
                    T result = answer.read(connection, length);
                    reusable = true;
                    return result;
                }
                case PeerProtocol.BULK_NOT_FOUND -> {
                    reusable = true;
                    return answer.read(connection, -1);
                }
                case PeerProtocol.BULK_FAILED, PeerProtocol.BULK_REFUSED -> {
                    if (length < 0 || length > MAX_BULK_MESSAGE_BYTES) {
                        throw new IOException("bulk error message of " + length + " bytes");
                    }
                    ByteBuffer text = ByteBuffer.allocate((int) length);
                    BulkServer.readFully(connection, text, false);
                    reusable = true;
                    throw new PeerException(this + ": " + what + " failed: "
                            + new String(text.array(), java.nio.charset.StandardCharsets.UTF_8),
                            status == PeerProtocol.BULK_REFUSED ? FlightStatusCode.RESOURCE_EXHAUSTED : FlightStatusCode.INTERNAL, null);
                }
                default -> throw new IOException("unknown bulk answer status " + status);
            }
        } catch (PeerException | InterruptedIOException e) {
            throw e;
        } catch (ClosedByInterruptException e) {
            Thread.currentThread().interrupt(); // the caller was interrupted: the peer is not to blame
            throw new InterruptedIOException(what + " at " + this + " interrupted");
        } catch (IOException e) {
            // reset, closed by its deadline or by abort(), or garbage: the peer did not answer as it should
            throw lost(what + " over the bulk lane", deadline.isDone() && !deadline.isCancelled()
                    ? FlightStatusCode.TIMED_OUT : FlightStatusCode.UNAVAILABLE, e);
        } finally {
            boolean onTime = deadline.cancel(false);
            busyBulk.remove(connection);
            if (reusable && onTime && connection.isOpen() && !closing) {
                idleBulk.addFirst(connection);
            } else {
                ChannelDeadlines.closeQuietly(connection);
            }
        }
    }

    /**
     * A metadata call over the bulk lane if this peer has one that can be reached: its answer ({@link #NOT_HELD} for a
     * key the peer does not hold), else null, and the call goes over Flight.
     */
    private byte[] metadataOverLane(byte kind, String keyOrPrefix) throws IOException {
        int port = bulkPort();
        return port == NO_BULK_LANE ? null : metadataBulk(kind, keyOrPrefix, port);
    }

    /** A new connection to the bulk lane, or null (and no lane for this link from now on) if it cannot be made. */
    private SocketChannel connectBulk(int port) throws IOException {
        try {
            return openBulk(port);
        } catch (IOException e) {
            bulkPort = NO_BULK_LANE;
            return null;
        }
    }

    /** A new connection to the bulk lane at {@code port}, or the reason it cannot be made. */
    private SocketChannel openBulk(int port) throws IOException {
        SocketChannel connection = SocketChannel.open();
        try {
            connection.socket().connect(new InetSocketAddress(address.getHostString(), port),
                    (int) Math.min(Integer.MAX_VALUE, peerTimeoutMillis));
            connection.socket().setTcpNoDelay(true);
            return connection;
        } catch (IOException e) {
            ChannelDeadlines.closeQuietly(connection);
            throw e;
        }
    }

    /**
     * Up to {@link PeerProtocol#READ_STREAMS} consecutive windows at once; returns the bytes read up to the first
     * window that came back short (the end of the object), or -1 if the first window found no such key, and
     * advances {@code dst} by as many. What a later window wrote past that point is not counted.
     */
    private int readRound(String key, long offset, ByteBuffer dst) throws IOException {
        int windows = (int) Math.max(1, Math.min(PeerProtocol.READ_STREAMS,
                (dst.remaining() + (long) PeerProtocol.READ_WINDOW_BYTES - 1) / PeerProtocol.READ_WINDOW_BYTES));
        DirectRead[] inFlight = new DirectRead[windows];
        int[] asked = new int[windows];
        int start = dst.position();
        int position = start;
        int started = 0;
        try {
            for (; started < windows; started++) {
                asked[started] = Math.min(dst.limit() - position, PeerProtocol.READ_WINDOW_BYTES);
                ByteBuffer part = dst.duplicate().limit(position + asked[started]).position(position);
                byte[] ticket = PeerProtocol.read(key, offset + (position - start), asked[started]);
                inFlight[started] = DirectRead.start(readChannels[started], ticket, part, callTimeoutMillis);
                position += asked[started];
            }
            int total = 0;
            boolean ended = false;
            for (int w = 0; w < windows; w++) {
                DirectRead window = inFlight[w];
                inFlight[w] = null;
                int n = awaitWindow(key, window);
                if (ended) {
                    continue; // past the end of the object (or of the version the earlier windows saw)
                }
                if (n < 0) {
                    if (w == 0) {
                        return -1;
                    }
                    ended = true; // deleted between two windows: what was read stands
                    continue;
                }
                total += n;
                ended = n < asked[w];
            }
            dst.position(start + total);
            return total;
        } finally {
            for (int w = 0; w < started; w++) {
                if (inFlight[w] != null) {
                    inFlight[w].abandon("an earlier window of the read failed");
                }
            }
        }
    }

    /** The bytes one window read, or -1 if the peer does not hold the key. */
    private int awaitWindow(String key, DirectRead window) throws IOException {
        try {
            return window.await(callTimeoutMillis);
        } catch (FlightRuntimeException e) {
            if (e.status().code() == FlightStatusCode.NOT_FOUND) {
                return -1;
            }
            throw failed("read " + key, e);
        }
    }

    /**
     * The whole of {@code key} as this peer holds it, if at most {@code maxBytes}: in one request over the bulk lane
     * (a READ of one byte more than the limit, whose answer's header says how much follows), else a stat and reads
     * over Flight. Null if the peer does not hold the key; {@link ObjectTooLargeException} for a larger object, whose
     * bytes are not read (the lane's connection is dropped instead). Over Flight, an object replaced between the stat
     * and the reads by a longer or a shorter one fails the call ("changed while read"), as {@link
     * dev.cairn.ObjectStore#readAll} does, instead of coming back cut.
     */
    byte[] readWhole(String key, long maxBytes) throws IOException {
        long limit = Math.min(maxBytes, Integer.MAX_VALUE - 8);
        enter();
        try {
            int port = bulkPort();
            if (port != NO_BULK_LANE) {
                byte[] whole = overBulk(port, "read " + key, PeerProtocol.read(key, 0, limit + 1), (connection, length) -> {
                    if (length < 0) {
                        return NOT_HELD;
                    }
                    if (length > limit) {
                        ChannelDeadlines.closeQuietly(connection); // its bytes stay unread: the connection is not reused
                        return TOO_LARGE;
                    }
                    ByteBuffer body = ByteBuffer.allocate((int) length);
                    BulkServer.readFully(connection, body, false);
                    return body.array();
                });
                if (whole == TOO_LARGE) {
                    throw new ObjectTooLargeException(key, limit + 1, limit);
                }
                if (whole != null) {
                    return whole == NOT_HELD ? null : whole;
                }
            }
            ObjectInfo info = statNow(key);
            if (info == null) {
                return null;
            }
            if (info.size() > limit) {
                throw new ObjectTooLargeException(key, info.size(), limit);
            }
            // A byte more than the stat gave, as ObjectStore.readAll reads: an object replaced by a longer one after
            // the stat fails the read instead of coming back cut to the old length as if it were whole.
            long size = info.size();
            ByteBuffer dst = ByteBuffer.allocate((int) size + 1);
            do {
                // What this round asks for: readRound reads at most ROUND_BYTES (READ_STREAMS windows), so an intact
                // object larger than that takes several rounds, each of which comes back full.
                int asked = Math.min(dst.remaining(), ROUND_BYTES);
                int n = readRound(key, dst.position(), dst);
                if (n < 0) {
                    return null; // deleted meanwhile: as if not held
                }
                // A round that ends short of the stat's size read a shorter version: going on from there would join
                // its bytes to a later version's, the whole of which may again have the stat's size.
                if (n < asked && dst.position() < size) {
                    throw new EOFException("object " + key + " at " + this + " changed while read: ended at "
                            + dst.position() + " of the " + size + " bytes it had");
                }
            } while (dst.position() < size);
            if (dst.position() > size) {
                throw new IOException("object " + key + " at " + this + " changed while read: longer than the " + size
                        + " bytes it had");
            }
            return java.util.Arrays.copyOf(dst.array(), (int) size);
        } finally {
            calls.decrementAndGet();
        }
    }

    /** The peer's info on {@code key}, or null if it does not hold it. */
    ObjectInfo stat(String key) throws IOException {
        enter();
        try {
            return statNow(key);
        } finally {
            calls.decrementAndGet();
        }
    }

    private ObjectInfo statNow(String key) throws IOException {
        byte[] bulk = metadataOverLane(PeerProtocol.STAT, key);
        if (bulk != null) {
            return bulk == NOT_HELD ? null : PeerProtocol.decodeInfo(bulk);
        }
        try {
            Iterator<Result> results = action(PeerProtocol.STAT_ACTION, PeerProtocol.keyBody(PeerProtocol.STAT, key));
            ObjectInfo info = PeerProtocol.decodeInfo(results.next().getBody());
            drain(results);
            return info;
        } catch (FlightRuntimeException e) {
            if (e.status().code() == FlightStatusCode.NOT_FOUND) {
                return null;
            }
            throw failed("stat " + key, e);
        }
    }

    /**
     * The peer's info on each of {@code keys} it holds: over the bulk lane in requests of up to {@link #STATS_PER_REQUEST}
     * keys (fewer where long keys would pass the lane's request limit), else a Flight stat per key.
     */
    List<ObjectInfo> statAll(List<String> keys) throws IOException {
        enter();
        try {
            List<ObjectInfo> held = new ArrayList<>();
            int port = bulkPort();
            int from = 0;
            if (port != NO_BULK_LANE) {
                while (from < keys.size()) {
                    int to = from;
                    int bytes = 2 * Integer.BYTES;
                    while (to < keys.size() && to - from < STATS_PER_REQUEST) {
                        int more = Short.BYTES + keys.get(to).getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
                        if (to > from && bytes + more > PeerProtocol.MAX_BULK_REQUEST_BYTES - 16) {
                            break;
                        }
                        bytes += more;
                        to++;
                    }
                    List<String> batch = keys.subList(from, to);
                    byte[] answer = overBulk(port, "stat " + batch.size() + " keys", PeerProtocol.keys(batch), (connection, length) -> {
                        if (length < 0 || length > MAX_BULK_METADATA_BYTES) {
                            throw new PeerException(this + ": stat of " + batch.size() + " keys: an answer of " + length
                                    + " bytes", FlightStatusCode.INTERNAL, null);
                        }
                        ByteBuffer body = ByteBuffer.allocate((int) length);
                        BulkServer.readFully(connection, body, false);
                        return body.array();
                    });
                    if (answer == null) {
                        break; // the lane cannot be reached: the rest over Flight
                    }
                    try {
                        held.addAll(PeerProtocol.decodeInfos(answer));
                    } catch (RuntimeException garbage) {
                        throw new PeerException(this + ": stat of " + batch.size() + " keys: " + garbage.getMessage(),
                                FlightStatusCode.INTERNAL, garbage);
                    }
                    from = to;
                }
            }
            for (; from < keys.size(); from++) {
                ObjectInfo info = statNow(keys.get(from));
                if (info != null) {
                    held.add(info);
                }
            }
            return held;
        } finally {
            calls.decrementAndGet();
        }
    }

    /** The peer's objects under {@code prefix}. */
    List<ObjectInfo> list(String prefix) throws IOException {
        enter();
        try {
            return listNow(prefix);
        } finally {
            calls.decrementAndGet();
        }
    }

    private List<ObjectInfo> listNow(String prefix) throws IOException {
        byte[] bulk = metadataOverLane(PeerProtocol.LIST, prefix);
        if (bulk != null) {
            try {
                return PeerProtocol.decodeInfos(bulk);
            } catch (RuntimeException garbage) {
                throw new PeerException(this + ": list " + prefix + ": " + garbage.getMessage(), FlightStatusCode.INTERNAL, garbage);
            }
        }
        try {
            List<ObjectInfo> infos = new ArrayList<>();
            Iterator<Result> results = action(PeerProtocol.LIST_ACTION, PeerProtocol.keyBody(PeerProtocol.LIST, prefix));
            while (results.hasNext()) {
                infos.add(PeerProtocol.decodeInfo(results.next().getBody()));
            }
            return infos;
        } catch (FlightRuntimeException e) {
            throw failed("list " + prefix, e);
        }
    }

    /**
     * Arrives at barrier {@code name} kept by this peer (peer 0 of the group) as rank {@code rank} of {@code world},
     * passing {@code token}, as {@code caller} ({@link PeerProtocol.Arrival#caller}); returns every rank's token when
     * every rank arrived. Fails with a {@link PeerException} whose code is TIMED_OUT when {@code timeoutMillis} passes
     * first.
     */
    List<String> barrier(String name, int rank, int world, long timeoutMillis, String token, long caller)
            throws IOException {
        enter();
        try {
            Iterator<Result> results = client.doAction(new Action(PeerProtocol.BARRIER_ACTION,
                    PeerProtocol.barrier(name, rank, world, timeoutMillis, token, caller)),
                    CallOptions.timeout(Math.max(1, timeoutMillis), TimeUnit.MILLISECONDS));
            List<String> tokens = null;
            while (results.hasNext()) {
                byte[] body = results.next().getBody();
                try {
                    tokens = PeerProtocol.decodeTokens(body);
                } catch (IllegalArgumentException malformed) {
                    throw new PeerException(this + ": barrier " + name + " was released with a malformed answer: "
                            + malformed.getMessage(), FlightStatusCode.INTERNAL, malformed);
                }
            }
            if (tokens == null) {
                throw new PeerException(this + ": barrier " + name + " was released without the ranks' tokens",
                        FlightStatusCode.INTERNAL, null);
            }
            return tokens;
        } catch (FlightRuntimeException e) {
            if (e.status().code() == FlightStatusCode.TIMED_OUT) {
                // the other ranks are late, which says nothing about this peer: it is not marked down
                throw new PeerException(this + ": barrier " + name + ": not every rank arrived within " + timeoutMillis
                        + " ms", FlightStatusCode.TIMED_OUT, e);
            }
            throw failed("barrier " + name, e);
        } finally {
            calls.decrementAndGet();
        }
    }

    /** Deletes the peer's copy of {@code key}, if it holds one. */
    void delete(String key) throws IOException {
        enter();
        try {
            deleteNow(key);
        } finally {
            calls.decrementAndGet();
        }
    }

    private void deleteNow(String key) throws IOException {
        if (metadataOverLane(PeerProtocol.DELETE, key) != null) {
            return;
        }
        try {
            drain(action(PeerProtocol.DELETE_ACTION, PeerProtocol.keyBody(PeerProtocol.DELETE, key)));
        } catch (FlightRuntimeException e) {
            throw failed("delete " + key, e);
        }
    }

    /**
     * Sends {@code object} as the replica of {@code key}: over the bulk lane from its memory, or over Flight from a
     * buffer of {@code viewAllocator} sharing that memory where the peer has no lane; in pieces paced by {@code pacing}.
     * Returns when the peer holds it, or, for a {@code createOnly} replica, holds an object under the key already
     * (which it keeps).
     */
    void replicate(String key, boolean createOnly, MemoryObjectStore.Lease object, BufferAllocator viewAllocator,
                   TokenBucket pacing) throws IOException {
        enter();
        try {
            replicateNow(key, createOnly, object, viewAllocator, pacing);
        } finally {
            calls.decrementAndGet();
        }
    }

    private void replicateNow(String key, boolean createOnly, MemoryObjectStore.Lease lease, BufferAllocator viewAllocator,
                              TokenBucket pacing) throws IOException {
        long size = lease.size();
        int port = bulkPort();
        if (port != NO_BULK_LANE && replicateBulk(key, createOnly, lease, size, pacing, port)) {
            return;
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(callTimeoutMillis);
        FlightDescriptor descriptor = FlightDescriptor.command(PeerProtocol.replica(key, size, createOnly));
        Ack ack = new Ack();
        try (ArrowBuf object = lease.share(viewAllocator);
             VectorSchemaRoot root = VectorSchemaRoot.create(PeerProtocol.SCHEMA, allocator)) {
            FlightClient.ClientStreamListener out = client.startPut(descriptor, root, ack,
                    CallOptions.timeout(callTimeoutMillis, TimeUnit.MILLISECONDS));
            try {
                out.setUseZeroCopy(true);
                sendPieces(key, object, size, pacing, out, root, ack, deadline);
                out.completed();
            } catch (IOException | InterruptedException | RuntimeException e) {
                out.error(e); // cancels the call, so the peer drops what it staged instead of waiting for the rest
                throw e;
            }
            out.getResult();
        } catch (FlightRuntimeException e) {
            throw failed("replicate " + key, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("replication of " + key + " to peer " + index + " interrupted");
        }
    }

    /**
     * Sends the replica over the bulk lane: its descriptor, then its bytes straight from {@code object}'s memory in
     * pieces paced by {@code pacing}, then the peer's answer. False if the lane cannot be reached (Flight then).
     */
    private boolean replicateBulk(String key, boolean createOnly, MemoryObjectStore.Lease object, long size,
                                  TokenBucket pacing, int port) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(callTimeoutMillis);
        Boolean sent = overBulk(port, "replicate " + key, PeerProtocol.replica(key, size, createOnly), connection -> {
            for (long start = 0; start < size; start += PeerProtocol.PIECE_BYTES) {
                int length = (int) Math.min(PeerProtocol.PIECE_BYTES, size - start);
                try {
                    if (!pacing.take(length, deadline)) {
                        throw new PeerException(this + ": replica " + key + " of " + size
                                + " bytes cannot be sent within the call timeout at the replication bandwidth",
                                FlightStatusCode.TIMED_OUT, null);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("replication of " + key + " to peer " + index + " interrupted");
                }
                ByteBuffer piece = object.bytes(start, length);
                while (piece.hasRemaining()) {
                    connection.write(piece);
                }
            }
        }, (connection, length) -> {
            if (length != 0) {
                throw new PeerException(this + ": replicate " + key + ": an answer of " + length + " bytes",
                        FlightStatusCode.INTERNAL, null);
            }
            return Boolean.TRUE;
        });
        return sent != null;
    }

    private void sendPieces(String key, ArrowBuf object, long size, TokenBucket pacing,
                            FlightClient.ClientStreamListener out, VectorSchemaRoot root, Ack ack, long deadline)
            throws IOException, InterruptedException {
        for (long start = 0; start < size; start += PeerProtocol.PIECE_BYTES) {
            int length = (int) Math.min(PeerProtocol.PIECE_BYTES, size - start);
            if (!pacing.take(length, deadline)) {
                throw new PeerException(this + ": replica " + key + " of " + size
                        + " bytes cannot be sent within the call timeout at the replication bandwidth",
                        FlightStatusCode.TIMED_OUT, null);
            }
            if (!awaitReady(out, ack, deadline)) {
                return; // the peer ended the call (refused, gone); getResult says why
            }
            Pieces.slice(root, object, start, length, allocator);
            out.putNext();
        }
    }

    /** Cancels every call in flight on this link (used on close, after this peer's own senders stopped). */
    void abort() {
        for (ManagedChannel c : readChannels) {
            c.shutdownNow();
        }
        closeBulk();
        for (SocketChannel connection : busyBulk) {
            ChannelDeadlines.closeQuietly(connection); // a read blocked on it fails at once
        }
    }

    private void closeBulk() {
        for (SocketChannel connection = idleBulk.pollFirst(); connection != null; connection = idleBulk.pollFirst()) {
            ChannelDeadlines.closeQuietly(connection);
        }
    }

    /**
     * Closes the connection once no call is running on it (waiting up to {@code CLOSE_WAIT_NANOS}): a call's stream
     * holds buffers of the client's allocator, which must be empty when it closes.
     */
    @Override
    public void close() throws InterruptedException {
        closing = true;
        long deadline = System.nanoTime() + CLOSE_WAIT_NANOS;
        while (calls.get() > 0 && System.nanoTime() - deadline < 0) {
            Thread.sleep(1);
        }
        closeBulk();
        client.close(); // shuts the channel down and waits for it
        for (int i = 1; i < readChannels.length; i++) {
            readChannels[i].shutdown();
        }
        for (int i = 1; i < readChannels.length; i++) {
            readChannels[i].awaitTermination(CLOSE_WAIT_NANOS, TimeUnit.NANOSECONDS);
        }
    }

    @Override
    public String toString() {
        return "peer " + index + " at " + address.getHostString() + ":" + address.getPort();
    }

    private Iterator<Result> action(String type, byte[] body) {
        return client.doAction(new Action(type, body), CallOptions.timeout(peerTimeoutMillis, TimeUnit.MILLISECONDS));
    }

    /**
     * The failure of a Flight call. One that ran past its deadline also drops the link's connections (new calls dial
     * afresh; calls still running keep theirs): without keepalive pings gRPC cannot tell a slow peer from a connection
     * that went half-open (the peer's side gone, no FIN, no reset), and would send every later call into it.
     */
    private IOException failed(String what, FlightRuntimeException e) {
        if (e.status().code() == FlightStatusCode.TIMED_OUT) {
            for (ManagedChannel c : readChannels) {
                c.enterIdle();
            }
        }
        return lost(what, e.status().code(), e);
    }

    /** The failure of a call as {@code code}; a peer that did not answer is marked down for a while. */
    private IOException lost(String what, FlightStatusCode code, Throwable cause) {
        if (isUnreachable(code)) {
            downUntil = System.nanoTime() + DOWN_NANOS;
            down = true;
        }
        return new PeerException(this + ": " + what + " failed: " + code + " " + cause.getMessage(), code, cause);
    }

    /** False if the call ended before the stream was ready for more. */
    private void enter() throws IOException {
        calls.incrementAndGet();
        if (closing) {
            calls.decrementAndGet();
            throw new PeerException(this + " is closed", FlightStatusCode.UNAVAILABLE, null);
        }
    }

    private static boolean isUnreachable(FlightStatusCode code) {
        return code == FlightStatusCode.UNAVAILABLE || code == FlightStatusCode.TIMED_OUT || code == FlightStatusCode.CANCELLED;
    }

    private static boolean awaitReady(FlightClient.ClientStreamListener out, Ack ack, long deadline)
            throws InterruptedException {
        long park = MIN_PARK_NANOS;
        while (!out.isReady()) {
            if (ack.done.isDone()) {
                return false;
            }
            if (System.nanoTime() - deadline > 0) {
                return true; // putNext will be buffered by gRPC; the call's own deadline ends it
            }
            LockSupport.parkNanos(park);
            park = Math.min(MAX_PARK_NANOS, park * 2);
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
        }
        return !ack.done.isDone();
    }

    /** The peer's answer to a put: done when it holds the replica or refused it. */
    private static final class Ack implements FlightClient.PutListener {
        final CompletableFuture<Void> done = new CompletableFuture<>();

        @Override
        public void getResult() {
            try {
                done.join();
            } catch (CompletionException e) {
                throw e.getCause() instanceof FlightRuntimeException flight ? flight
                        : CallStatus.UNKNOWN.withCause(e.getCause()).withDescription(String.valueOf(e.getCause())).toRuntimeException();
            }
        }

        /**
         * Flight's {@code putNext} spins, uninterruptibly, until the stream is ready or this says the call is over:
         * without it a put whose call ended (cancelled by close, peer gone) between our readiness check and
         * {@code putNext} spins forever, holding the staged replica, and close times out with that memory leaked.
         */
        @Override
        public boolean isCancelled() {
            return done.isDone();
        }

        @Override
        public void onNext(PutResult result) {
            result.close();
        }

        @Override
        public void onError(Throwable t) {
            done.completeExceptionally(t);
        }

        @Override
        public void onCompleted() {
            done.complete(null);
        }
    }

    private static void drain(Iterator<Result> results) {
        while (results.hasNext()) {
            results.next();
        }
    }
}
