package dev.cairn.backend.flight;

import dev.cairn.ObjectInfo;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import org.apache.arrow.flight.Action;
import org.apache.arrow.flight.CallStatus;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.NoOpFlightProducer;
import org.apache.arrow.flight.PutResult;
import org.apache.arrow.flight.Result;
import org.apache.arrow.flight.Ticket;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.OutOfMemoryException;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * The Flight side of a peer: serves this peer's objects (its own and the replicas it holds) to the others, and
 * takes replicas into its memory tier.
 *
 * <p>A read is served from one off-heap copy of the range taken in one call of the memory tier, so a reader never
 * sees pieces of two versions of an object that is replaced meanwhile; the copy comes from the transfer
 * allocator, whose limit bounds what is in flight. A replica is received whole into a transfer buffer and only
 * then put, so a broken stream never leaves a prefix behind.
 */
final class PeerService extends NoOpFlightProducer {
    private static final long MIN_PARK_NANOS = 10_000;
    private static final long MAX_PARK_NANOS = 1_000_000;

    private final int peerIndex;
    private final MemoryObjectStore memory;
    private final BufferAllocator transfer;
    private final long callTimeoutNanos;
    private final AtomicInteger activeCalls = new AtomicInteger();
    private final LongAdder replicasRefused;
    private final LongAdder replicasReceived;
    /** The group's barriers, kept by peer 0 (others answer nothing for them). */
    private final PeerBarriers barriers = new PeerBarriers();
    private volatile boolean closed;

    PeerService(int peerIndex, MemoryObjectStore memory, BufferAllocator transfer, long callTimeoutNanos,
                LongAdder replicasReceived, LongAdder replicasRefused) {
        this.peerIndex = peerIndex;
        this.memory = memory;
        this.transfer = transfer;
        this.callTimeoutNanos = callTimeoutNanos;
        this.replicasReceived = replicasReceived;
        this.replicasRefused = replicasRefused;
    }

    @Override
    public void getStream(CallContext context, Ticket ticket, ServerStreamListener listener) {
        if (!enter(listener::error)) {
            return;
        }
        try {
            serve(PeerProtocol.decodeRead(ticket.getBytes()), listener);
        } catch (RuntimeException e) {
            listener.error(asStatus(e));
        } finally {
            activeCalls.decrementAndGet();
        }
    }

    @Override
    public Runnable acceptPut(CallContext context, FlightStream stream, StreamListener<PutResult> ack) {
        return () -> {
            if (!enter(ack::onError)) {
                return;
            }
            try {
                // next() before getDescriptor(): a call cancelled before its first message ends next() with an
                // error, while getDescriptor() would wait for that message for ever.
                boolean more = stream.next();
                receive(PeerProtocol.decodeReplica(stream.getDescriptor().getCommand()), stream, more);
                ack.onCompleted();
            } catch (RuntimeException e) {
                ack.onError(asStatus(e));
            } finally {
                activeCalls.decrementAndGet();
            }
        };
    }

    @Override
    public void doAction(CallContext context, Action action, StreamListener<Result> listener) {
        if (!enter(listener::onError)) {
            return;
        }
        try {
            if (PeerProtocol.BARRIER_ACTION.equals(action.getType())) {
                // Answered when the last rank arrives, from that rank's call: no thread waits here.
                barriers.arrive(PeerProtocol.decodeBarrier(action.getBody()), listener);
                return;
            }
            switch (action.getType()) {
                case PeerProtocol.STAT_ACTION -> {
                    ObjectInfo info = memory.stat(PeerProtocol.decodeKeyBody(action.getBody(), PeerProtocol.STAT));
                    listener.onNext(new Result(PeerProtocol.info(info)));
                }
                case PeerProtocol.LIST_ACTION -> {
                    for (ObjectInfo info : memory.list(PeerProtocol.decodeKeyBody(action.getBody(), PeerProtocol.LIST))) {
                        listener.onNext(new Result(PeerProtocol.info(info)));
                    }
                }
                case PeerProtocol.DELETE_ACTION -> memory.delete(PeerProtocol.decodeKeyBody(action.getBody(), PeerProtocol.DELETE));
                default -> throw CallStatus.UNIMPLEMENTED.withDescription("unknown action " + action.getType()).toRuntimeException();
            }
            listener.onCompleted();
        } catch (NoSuchFileException e) {
            listener.onError(CallStatus.NOT_FOUND.withDescription(e.getFile()).toRuntimeException());
        } catch (IOException | RuntimeException e) {
            listener.onError(asStatus(e));
        } finally {
            activeCalls.decrementAndGet();
        }
    }

    /** Refuses new calls and waits up to {@code timeoutMillis} for those running to finish. */
    void close(long timeoutMillis) throws InterruptedException {
        closed = true;
        barriers.close();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (activeCalls.get() > 0 && System.nanoTime() - deadline < 0) {
            Thread.sleep(1);
        }
    }

    /** Barriers this peer keeps that not every rank has reached yet. */
    int openBarriers() {
        return barriers.open();
    }

    /** This peer's own arrival at a barrier it keeps (it is peer 0): {@code call} is answered on release. */
    void arriveHere(PeerProtocol.Arrival arrival, StreamListener<Result> call) {
        barriers.arrive(arrival, call);
    }

    private void serve(PeerProtocol.Read read, ServerStreamListener listener) {
        ArrowBuf range = snapshot(read);
        try (range; VectorSchemaRoot root = VectorSchemaRoot.create(PeerProtocol.SCHEMA, transfer)) {
            listener.setUseZeroCopy(true);
            listener.start(root);
            long length = range.capacity();
            long deadline = System.nanoTime() + callTimeoutNanos;
            for (long start = 0; start < length; start += PeerProtocol.PIECE_BYTES) {
                if (!awaitReady(listener, deadline)) {
                    return; // the reader went away or its deadline passed; the stream is over either way
                }
                Pieces.slice(root, range, start, (int) Math.min(PeerProtocol.PIECE_BYTES, length - start), transfer);
                listener.putNext();
            }
            listener.completed();
        }
    }

    /** The requested range of the object, copied off-heap in one read of the memory tier. */
    private ArrowBuf snapshot(PeerProtocol.Read read) {
        try {
            long size = memory.stat(read.key()).size();
            long length = Math.max(0, Math.min(read.length(), size - read.offset()));
            ArrowBuf range = allocate(read.key(), length);
            try {
                int n = length == 0 ? 0 : memory.read(read.key(), read.offset(), range.nioBuffer(0, (int) length));
                return n == length ? range : shrink(range, n);
            } catch (IOException | RuntimeException e) {
                range.close();
                throw e;
            }
        } catch (NoSuchFileException e) {
            throw CallStatus.NOT_FOUND.withDescription(read.key()).toRuntimeException();
        } catch (IOException e) {
            throw CallStatus.UNAVAILABLE.withDescription("peer " + peerIndex + ": " + e.getMessage()).toRuntimeException();
        }
    }

    /** The first {@code n} bytes of {@code range}, when the object was replaced by a shorter one meanwhile. */
    private ArrowBuf shrink(ArrowBuf range, int n) {
        try (range) {
            ArrowBuf shorter = allocate("a replaced object", n);
            shorter.setBytes(0, range, 0, n);
            return shorter;
        }
    }

    private void receive(PeerProtocol.Replica replica, FlightStream stream, boolean more) {
        long room = memory.limitBytes() - memory.usedBytes();
        if (replica.size() > room) {
            replicasRefused.increment();
            throw full(replica, room, null);
        }
        try (ArrowBuf staged = allocate(replica.key(), replica.size())) {
            long position = 0;
            for (; more; more = stream.next()) {
                position = Pieces.appendTo(stream.getRoot(), staged, position);
            }
            if (position != replica.size()) {
                throw CallStatus.INVALID_ARGUMENT.withDescription("replica " + replica.key() + " ended at " + position
                        + " of " + replica.size() + " bytes").toRuntimeException();
            }
            try {
                memory.put(replica.key(), staged.nioBuffer(0, (int) replica.size()));
            } catch (IOException e) {
                replicasRefused.increment();
                throw full(replica, memory.limitBytes() - memory.usedBytes(), e);
            }
            replicasReceived.increment();
        }
    }

    private FlightRuntimeException full(PeerProtocol.Replica replica, long room, IOException cause) {
        return CallStatus.RESOURCE_EXHAUSTED.withCause(cause).withDescription("peer " + peerIndex
                + " cannot hold replica " + replica.key() + " (" + replica.size() + " bytes): memory limit "
                + memory.limitBytes() + " bytes, " + room + " free").toRuntimeException();
    }

    private ArrowBuf allocate(String what, long bytes) {
        try {
            return transfer.buffer(bytes);
        } catch (OutOfMemoryException e) {
            throw CallStatus.RESOURCE_EXHAUSTED.withDescription("peer " + peerIndex + " has no transfer buffer for "
                    + what + " (" + bytes + " bytes; limit " + transfer.getLimit() + ")").toRuntimeException();
        }
    }

    private boolean enter(java.util.function.Consumer<Throwable> refuse) {
        activeCalls.incrementAndGet();
        if (closed) {
            activeCalls.decrementAndGet();
            refuse.accept(CallStatus.UNAVAILABLE.withDescription("peer " + peerIndex + " is closing").toRuntimeException());
            return false;
        }
        return true;
    }

    /**
     * Polls, with a short park, until gRPC wants more. Flight's CallbackBackpressureStrategy was not woken by the
     * ready callback here (each wait ran to its timeout: 21 MB/s for a 64 MiB read), so we do not rely on it.
     */
    private static boolean awaitReady(ServerStreamListener listener, long deadline) {
        long park = MIN_PARK_NANOS;
        while (!listener.isReady()) {
            if (listener.isCancelled() || System.nanoTime() - deadline > 0) {
                return false;
            }
            LockSupport.parkNanos(park);
            park = Math.min(MAX_PARK_NANOS, park * 2);
        }
        return true;
    }

    private static FlightRuntimeException asStatus(Throwable e) {
        if (e instanceof FlightRuntimeException flight) {
            return flight;
        }
        if (e instanceof IllegalArgumentException) {
            return CallStatus.INVALID_ARGUMENT.withDescription(e.getMessage()).toRuntimeException();
        }
        return CallStatus.INTERNAL.withCause(e).withDescription(String.valueOf(e)).toRuntimeException();
    }
}
