package dev.cairn.backend.flight;

import dev.cairn.ObjectInfo;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
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
 * <p>The BULK action tells a reader the port of this peer's bulk lane ({@link BulkServer}), which serves the bytes
 * of reads where it can be reached; the READs that come here are those of readers that cannot reach it.
 *
 * <p>A read is served from one shared view of the object's current version ({@link MemoryObjectStore#share}), so a
 * reader never sees pieces of two versions of an object that is replaced meanwhile, and nothing is copied to serve
 * it: the pieces are slices of the stored memory, written to the socket by reference. A replaced or deleted
 * object's memory lives on, charged to the transfer allocator, until its last piece is written. A replica is
 * received whole into a transfer buffer and only then put, so a broken stream never leaves a prefix behind.
 */
final class PeerService extends NoOpFlightProducer {
    private final int peerIndex;
    private final MemoryObjectStore memory;
    private final BufferAllocator transfer;
    private final long callTimeoutNanos;
    /** The lane's port as announced to readers; a test may announce a proxy's port in front of it instead. */
    private volatile int bulkPort;
    private final AtomicInteger activeCalls = new AtomicInteger();
    private final LongAdder replicasRefused;
    private final LongAdder replicasReceived;
    /** Create-only replicas of keys this peer held already, answered OK and not taken. */
    private final LongAdder replicasKept;
    /** The group's barriers, kept by peer 0 (others answer nothing for them). */
    private final PeerBarriers barriers = new PeerBarriers();
    private volatile boolean closed;
    /**
     * Called after a DELETE from another peer removed the local copy: waits until this peer's own replica of the key
     * is no longer in flight (as {@link PeerMemoryStore#delete} does), so the delete's answer comes after it.
     */
    private volatile java.util.function.Consumer<String> afterDelete = key -> { };

    PeerService(int peerIndex, MemoryObjectStore memory, BufferAllocator transfer, long callTimeoutNanos, int bulkPort,
                LongAdder replicasReceived, LongAdder replicasRefused) {
        this(peerIndex, memory, transfer, callTimeoutNanos, bulkPort, replicasReceived, replicasRefused, new LongAdder());
    }

    PeerService(int peerIndex, MemoryObjectStore memory, BufferAllocator transfer, long callTimeoutNanos, int bulkPort,
                LongAdder replicasReceived, LongAdder replicasRefused, LongAdder replicasKept) {
        this.replicasKept = replicasKept;
        this.peerIndex = peerIndex;
        this.bulkPort = bulkPort;
        this.memory = memory;
        this.transfer = transfer;
        this.callTimeoutNanos = callTimeoutNanos;
        this.replicasReceived = replicasReceived;
        this.replicasRefused = replicasRefused;
    }

    /** Sets what a DELETE from another peer waits for once the local copy is gone (see {@link #afterDelete}). */
    void afterDelete(java.util.function.Consumer<String> wait) {
        this.afterDelete = wait;
    }

    /**
     * Announces {@code port} as this peer's bulk lane from now on, instead of the lane's own: for a test that puts a
     * proxy in front of the lane (readers learn the port with the BULK action and dial it on the peer's host).
     */
    void announceBulkPort(int port) {
        this.bulkPort = port;
    }

    @Override
    public void getStream(CallContext context, Ticket ticket, ServerStreamListener listener) {
        if (!enter(listener::error)) {
            return;
        }
        Answer answer;
        try {
            answer = answer(PeerProtocol.decodeRead(ticket.getBytes()), listener);
        } catch (RuntimeException e) {
            activeCalls.decrementAndGet();
            listener.error(asStatus(e));
            return;
        }
        // gRPC calls these on this call's serializing executor, never at the same time as each other or as this
        // method, so the answer needs no lock; it ends the call (and counts it out) exactly once.
        listener.setOnReadyHandler(answer);
        listener.setOnCancelHandler(answer::cancelled);
        answer.run();
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
                // It counts while the rank waits: its deadline cancels the call (gRPC), and then it no longer does.
                barriers.arrive(PeerProtocol.decodeBarrier(action.getBody()), listener, context::isCancelled);
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
                case PeerProtocol.DELETE_ACTION -> {
                    String key = PeerProtocol.decodeKeyBody(action.getBody(), PeerProtocol.DELETE);
                    memory.delete(key);
                    afterDelete.accept(key);
                }
                case PeerProtocol.BULK_ACTION -> {
                    PeerProtocol.decodeKeyBody(action.getBody(), PeerProtocol.BULK); // checks magic and version
                    listener.onNext(new Result(PeerProtocol.bulkPort(bulkPort)));
                }
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

    /** Fails the calls open at this peer's barriers; later arrivals fail at once. */
    void closeBarriers() {
        barriers.close();
    }

    /** Barriers this peer keeps that not every rank has reached yet. */
    int openBarriers() {
        return barriers.open();
    }

    /** This peer's own arrival at a barrier it keeps (it is peer 0): {@code call} is answered on release. */
    void arriveHere(PeerProtocol.Arrival arrival, LocalArrival call) {
        barriers.arrive(arrival, call);
    }

    /**
     * The answer to a READ: pieces of one shared, immutable view of the object's current version (no copy of it is
     * staged: the pieces are slices of the stored memory, which Flight hands to Netty by reference).
     */
    private Answer answer(PeerProtocol.Read read, ServerStreamListener listener) {
        if (read.offset() < 0 || read.length() < 0) {
            throw new IllegalArgumentException("negative offset or length in a read of " + read.key());
        }
        ArrowBuf object;
        try {
            object = memory.share(read.key(), transfer);
        } catch (NoSuchFileException e) {
            throw CallStatus.NOT_FOUND.withDescription(read.key()).toRuntimeException();
        } catch (IOException e) {
            throw CallStatus.UNAVAILABLE.withDescription("peer " + peerIndex + ": " + e.getMessage()).toRuntimeException();
        }
        VectorSchemaRoot root = null;
        try {
            long size = object.readableBytes();
            long start = Math.min(read.offset(), size);
            long end = start + Math.min(read.length(), size - start);
            root = VectorSchemaRoot.create(PeerProtocol.SCHEMA, transfer);
            listener.setUseZeroCopy(true);
            listener.start(root);
            return new Answer(listener, object, root, start, end, System.nanoTime() + callTimeoutNanos);
        } catch (RuntimeException e) {
            if (root != null) {
                root.close();
            }
            object.close();
            throw e;
        }
    }

    /**
     * Sends the pieces of one READ whenever gRPC has room for them (the call's onReady), and never blocks a thread
     * waiting for room: gRPC queues up to the server's backpressure threshold per call, by reference, and calls
     * {@link #run} again as that queue drains. Owns the shared view and the batch root until the call ends.
     */
    private final class Answer implements Runnable {
        private final ServerStreamListener listener;
        private final ArrowBuf object;
        private final VectorSchemaRoot root;
        private final long end;
        private final long deadline;
        private long next;
        private boolean over;

        Answer(ServerStreamListener listener, ArrowBuf object, VectorSchemaRoot root, long start, long end, long deadline) {
            this.listener = listener;
            this.object = object;
            this.root = root;
            this.next = start;
            this.end = end;
            this.deadline = deadline;
        }

        @Override
        public void run() {
            if (over) {
                return;
            }
            try {
                if (listener.isCancelled()) {
                    end();
                    return;
                }
                if (System.nanoTime() - deadline > 0) {
                    listener.error(CallStatus.TIMED_OUT.withDescription("peer " + peerIndex
                            + ": read not taken within the call timeout").toRuntimeException());
                    end();
                    return;
                }
                while (next < end && listener.isReady()) {
                    int length = (int) Math.min(PeerProtocol.PIECE_BYTES, end - next);
                    Pieces.slice(root, object, next, length, transfer);
                    listener.putNext();
                    next += length;
                }
                if (next >= end) {
                    listener.completed();
                    end();
                }
            } catch (RuntimeException e) {
                listener.error(asStatus(e));
                end();
            }
        }

        /** The reader went away (cancelled, past its deadline, connection lost) or the server is closing. */
        void cancelled() {
            if (!over) {
                end();
            }
        }

        /** Lets go of the view: the pieces still queued in gRPC hold their own references until written. */
        private void end() {
            over = true;
            root.close();
            object.close();
            activeCalls.decrementAndGet();
        }
    }

    /**
     * Takes a replica into memory; a create-only one of a key held here already is read to its end and not taken
     * (the object here stays, whatever its form), and answered OK as if taken.
     */
    private void receive(PeerProtocol.Replica replica, FlightStream stream, boolean more) {
        if (replica.createOnly() && memory.holds(replica.key())) {
            for (; more; more = stream.next()) {
                // read to its end: the sender's last piece is then not cut off by our answer
            }
            replicasKept.increment();
            return;
        }
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
                ByteBuffer bytes = staged.nioBuffer(0, (int) replica.size());
                if (!replica.createOnly()) {
                    memory.put(replica.key(), bytes);
                } else if (!memory.putIfAbsent(replica.key(), bytes)) {
                    replicasKept.increment(); // created here (or arrived) while the replica was on its way
                    return;
                }
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
