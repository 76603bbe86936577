package dev.cairn.backend.flight;

import dev.cairn.Coordinator;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectKeys;
import dev.cairn.ObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.ChannelOption;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import org.apache.arrow.flight.FlightServer;
import org.apache.arrow.flight.FlightStatusCode;
import org.apache.arrow.flight.Location;
import org.apache.arrow.memory.AllocationListener;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/**
 * The peer-memory tier: an {@link ObjectStore} whose objects live in this process's off-heap memory, are served to
 * the other peers of its group over Arrow Flight, and are replicated in the background to this peer's placement
 * targets, so that when a node dies its checkpoint is still in RAM elsewhere.
 *
 * <p>It is a <em>shared</em> store: {@link #read}, {@link #stat} and {@link #list} see the union of this peer's
 * objects and those of every reachable peer. A read is served locally when it can be, else by the placement
 * targets, then by the other peers; a peer that does not answer is skipped for a short while (its connect timeout
 * is the {@linkplain PeerMemoryConfig#peerTimeout() peer timeout}), and left out of a {@link #list}; a
 * {@link #listWhole}, garbage collection's, fails instead, so no sweep runs on a listing that may miss a step. A read's bytes travel over a plain TCP port
 * that each peer opens beside its Flight server on the same host ({@link BulkServer}: what TCP costs, where Flight
 * over gRPC costs 3-4x the CPU per byte); a peer whose lane cannot be reached is read over Flight.
 *
 * <ul>
 *   <li>{@link #put} stores locally (failing with an {@link IOException} naming the memory limit when the object
 *       does not fit), then queues the object for each target. Replication is asynchronous, FIFO per target and
 *       bounded: when a target's queue is full the put waits up to the call timeout, then leaves that replica out
 *       of the queue and counts it ({@link PeerMemoryMetrics#replicasDropped()}); such a replica, one a target refused
 *       (full), and one a target did not answer for are remembered and tried again later ({@link Replication}). A dead target fails fast and holds back no one.
 *       {@link #awaitReplication} waits until everything queued was sent.</li>
 *   <li>{@link #putIfAbsent} asks every reachable peer first and creates nothing if one holds the key, then creates
 *       atomically in this peer's memory; its replicas replace what a target holds under the key, as
 *       {@link #put}'s do (only a chunk's create, {@link #putIfAbsentSyncingNameLater} and
 *       {@link #putIfAbsentGathered}, sends create-only replicas). Two peers creating the same key at the same instant can both win: exact
 *       create-only across peers relies on a single writer per key, which the engine guarantees for a MANIFEST
 *       (rank 0 writes it).</li>
 *   <li>{@link #delete} removes the local copy, waits until no replica of the key is in flight from here, and then
 *       removes every reachable peer's copy, best effort. A replica still in flight from <em>another</em> peer may
 *       land after it: delete through the writer, or once the writer's replication is idle (garbage collection
 *       deletes old, long replicated objects, so it is not affected).</li>
 *   <li>A peer that reads an object replaced elsewhere sees the newest version once replication has delivered it;
 *       chunks are content-addressed and never replaced, so this concerns only rewritten indexes.</li>
 * </ul>
 *
 * <p>Memory: the objects (this peer's and the replicas it holds for others) count against
 * {@link PeerMemoryConfig#memoryLimitBytes()}; a replica that does not fit is refused and counted by both sides, and
 * its sender tries it again later.
 * Objects in transit use a separate, also bounded, transfer budget. {@link #close()} stops the server and the
 * senders and frees everything; it fails if any Arrow memory leaked.
 */
public final class PeerMemoryStore implements ObjectStore {
    private static final long CLOSE_WAIT_MILLIS = 5_000;

    private final PeerMemoryConfig config;
    private final RootAllocator root;
    private final BufferAllocator serverAllocator;
    private final BufferAllocator clientAllocator;
    private final MemoryObjectStore memory;
    private final PeerService service;
    private final FlightServer server;
    /** Ours, not Flight's: Flight shuts its own down while calls are still closing, and gRPC then logs errors. */
    private final ExecutorService serverExecutor;
    /** Reads' bytes beside Flight, see {@link BulkServer}. */
    private final BulkServer bulk;
    private final ChannelDeadlines deadlines;
    private final Replication replication;
    private final TokenBucket pacing;
    private final List<Integer> readOrder;
    private final Object linksLock = new Object();
    private final PeerCoordinator coordinator = new PeerCoordinator(this);
    private volatile PeerLink[] links;
    private volatile boolean closed;

    /** Calls to every peer at once (a listing, the stats before a create), one thread per peer asked. */
    private final ExecutorService asking;
    private final LongAdder readsLocal = new LongAdder();
    private final LongAdder readsFromPeers = new LongAdder();
    private final LongAdder bytesReadFromPeers = new LongAdder();
    private final LongAdder peerCallFailures = new LongAdder();
    private final LongAdder replicasReceived = new LongAdder();
    private final LongAdder replicasRejected = new LongAdder();
    private final LongAdder replicasKept = new LongAdder();

    private PeerMemoryStore(PeerMemoryConfig config) throws IOException {
        this.config = config;
        long transfer = config.transferBufferBytes();
        long limit = saturatedAdd(config.memoryLimitBytes(), saturatedAdd(transfer, transfer));
        // Exact sizes, so that the memory limit counts object bytes and not power-of-two slack.
        this.root = new RootAllocator(AllocationListener.NOOP, limit, size -> size);
        MemoryObjectStore objects = null;
        BufferAllocator serving = null;
        BufferAllocator client = null;
        FlightServer started = null;
        PeerService producer = null;
        BulkServer lane = null;
        ExecutorService executor = Executors.newCachedThreadPool(daemonThreads("cairn-peer-" + config.peerIndex() + "-serve-"));
        ChannelDeadlines timer = new ChannelDeadlines("cairn-peer-" + config.peerIndex() + "-deadlines");
        try {
            objects = new MemoryObjectStore(root, config.memoryLimitBytes());
            serving = root.newChildAllocator("cairn-peer-serve", 0, transfer);
            client = root.newChildAllocator("cairn-peer-client", 0, transfer);
            lane = new BulkServer(config.peerIndex(), config.host(), objects, executor, timer,
                    config.callTimeout().toNanos(), replicasReceived, replicasRejected, replicasKept);
            producer = new PeerService(config.peerIndex(), objects, serving, config.callTimeout().toNanos(), lane.port(),
                    replicasReceived, replicasRejected, replicasKept);
            started = FlightServer.builder(serving, Location.forGrpcInsecure(config.host(), config.port()), producer)
                    .executor(executor)
                    .maxInboundMessageSize(PeerProtocol.MAX_MESSAGE_BYTES)
                    .transportHint("grpc.builderConsumer", (Consumer<NettyServerBuilder>) netty ->
                            netty.flowControlWindow(PeerProtocol.FLOW_CONTROL_WINDOW_BYTES)
                                    .withChildOption(ChannelOption.TCP_NODELAY, true))
                    .build()
                    .start();
        } catch (IOException | RuntimeException e) {
            closeQuietly(started, lane, objects, serving, client);
            executor.shutdownNow();
            timer.close();
            root.close();
            throw e instanceof IOException io ? io
                    : new IOException("peer " + config.peerIndex() + " could not start on " + config.host() + ":" + config.port(), e);
        }
        this.memory = objects;
        this.serverAllocator = serving;
        this.clientAllocator = client;
        this.service = producer;
        this.server = started;
        this.serverExecutor = executor;
        this.asking = Executors.newCachedThreadPool(daemonThreads("cairn-peer-" + config.peerIndex() + "-ask-"));
        this.bulk = lane;
        this.deadlines = timer;
        this.pacing = new TokenBucket(config.replicationBandwidth(), PeerProtocol.PIECE_BYTES);
        this.readOrder = readOrder(config);
        this.links = new PeerLink[config.peerCount()];
        List<Integer> targets = config.replicaTargets();
        this.replication = targets.isEmpty() ? null
                : new Replication(config.peerIndex(), targets, config.replicationQueueBytes(), this::sendReplica);
        if (replication != null) {
            // A DELETE from another peer answers only once this peer's own replica of the key is no longer in flight,
            // as delete() here waits: a try that holds its object then lands before the deleting peer's later calls
            // (to this peer's targets, if it reaches them after this peer). One that reached a target first may still
            // be followed there by the replica: an orphan, content-addressed, until the next sweep.
            Replication sending = replication;
            java.util.function.Consumer<String> awaitNotSending = key -> {
                try {
                    sending.awaitNotSending(key, System.nanoTime() + config.callTimeout().toNanos());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt(); // the local copy is gone; the answer just comes sooner
                }
            };
            producer.afterDelete(awaitNotSending);
            lane.afterDelete(awaitNotSending);
        }
        if (!config.peers().isEmpty()) {
            connect(config.peers());
        }
    }

    /** Starts a peer: binds its Flight server and, if the config names the peers' addresses, connects to them. */
    public static PeerMemoryStore start(PeerMemoryConfig config) throws IOException {
        return new PeerMemoryStore(config);
    }

    /** The address this peer's server is bound to (the actual port when the config asked for port 0). */
    public InetSocketAddress address() {
        return new InetSocketAddress(config.host(), server.getPort());
    }

    /**
     * Sets every peer's address by index (this peer's own entry is ignored), replacing earlier ones. Call it once
     * every peer has started, before writing; replicas queued while no address is known are dropped.
     */
    public void connect(List<InetSocketAddress> peers) {
        List<InetSocketAddress> checked = PeerMemoryConfig.checkPeers(peers, config.peerCount());
        PeerLink[] old;
        PeerLink[] fresh = new PeerLink[config.peerCount()];
        synchronized (linksLock) {
            if (closed) {
                throw new IllegalStateException("peer memory store " + config.peerIndex() + " is closed");
            }
            for (int p = 0; p < fresh.length; p++) {
                if (p != config.peerIndex()) {
                    fresh[p] = new PeerLink(p, checked.get(p), clientAllocator, config.callTimeout().toMillis(),
                            config.peerTimeout().toMillis(), deadlines);
                }
            }
            old = links;
            links = fresh;
        }
        closeLinks(old);
        if (config.connectAhead()) {
            connectAhead(fresh);
        }
    }

    /**
     * Connects to every peer in the background, each on a short-lived thread of its own ({@link PeerLink#connectAhead}):
     * a process that has just started (a replacement for a lost rank) connects while it builds its model, not inside
     * its first restore, where it would otherwise pay Flight's channel, the bulk port and a lane connection for each peer
     * it reads from. One connection a peer is kept idle: it holds a thread of that peer's lane (more are opened as
     * reads need them, as before).
     */
    private void connectAhead(PeerLink[] fresh) {
        for (PeerLink link : fresh) {
            if (link != null) {
                Thread t = new Thread(() -> link.connectAhead(1), "cairn-peer-connect-" + config.peerIndex());
                t.setDaemon(true);
                t.start();
            }
        }
    }

    /** Waits until every replica queued so far was sent or dropped; false if {@code timeout} passed first. */
    public boolean awaitReplication(Duration timeout) throws InterruptedException {
        return replication == null || replication.awaitIdle(timeout.toNanos());
    }

    /**
     * The group's barrier for multi-rank commits: peer 0 keeps every barrier, and each rank's arrival is one call to
     * it that returns when the last rank arrives (see {@link PeerCoordinator}). Used by the engine when the peer tier
     * is configured and no other coordinator is.
     */
    @Override
    public Optional<Coordinator> coordinator() {
        return Optional.of(coordinator);
    }

    /**
     * Rank {@code rank}'s arrival at barrier {@code name} with {@code token}, as {@code caller}
     * ({@link PeerProtocol.Arrival#caller}), kept by peer 0: here when this is peer
     * 0, else one call to it. Returns every rank's token (rank 0's first) when every rank of {@code world} arrived;
     * fails with a {@link PeerLink.PeerException} (TIMED_OUT after {@code timeoutMillis}, UNAVAILABLE when peer 0 is
     * not reachable or closing).
     */
    List<String> arrive(String name, int rank, int world, long timeoutMillis, String token, long caller)
            throws IOException {
        checkOpen();
        if (config.peerIndex() == 0) {
            LocalArrival here = new LocalArrival();
            service.arriveHere(new PeerProtocol.Arrival(name, rank, world, timeoutMillis, token, caller), here);
            return here.await(name, timeoutMillis);
        }
        PeerLink leader = reachable(0);
        if (leader == null) {
            throw new PeerLink.PeerException("peer 0, which keeps the group's barriers, is "
                    + (links[0] == null ? "not connected" : "not reachable"), FlightStatusCode.UNAVAILABLE, null);
        }
        return leader.barrier(name, rank, world, timeoutMillis, token, caller);
    }

    /** The port of this peer's bulk lane, for tests. */
    int bulkPort() {
        return bulk.port();
    }

    /** This peer's Flight service, for tests. */
    PeerService service() {
        return service;
    }

    /** Counters since start. */
    public PeerMemoryMetrics metrics() {
        return new PeerMemoryMetrics(
                replication == null ? 0 : replication.bytesReplicated.sum(),
                replication == null ? 0 : replication.replicasSent.sum(),
                replication == null ? 0 : replication.replicasDropped.sum(),
                replication == null ? 0 : replication.replicasRefused.sum(),
                replication == null ? 0 : replication.lagBytes(),
                replicasReceived.sum(), replicasRejected.sum(), readsLocal.sum(), readsFromPeers.sum(),
                bytesReadFromPeers.sum(), peerCallFailures.sum(), replicasKept.sum());
    }

    /** {@link #metrics()} by name, for the engine's metrics registry (as {@code cairn.store.<name>}, tagged by tier). */
    @Override
    public java.util.Map<String, Long> counters() {
        PeerMemoryMetrics m = metrics();
        return java.util.Map.ofEntries(
                java.util.Map.entry("replication.bytes", m.bytesReplicated()),
                java.util.Map.entry("replication.replicas.sent", m.replicasSent()),
                java.util.Map.entry("replication.replicas.dropped", m.replicasDropped()),
                java.util.Map.entry("replication.replicas.refused", m.replicasRefused()),
                java.util.Map.entry("replication.replicas.received", m.replicasReceived()),
                java.util.Map.entry("replication.replicas.rejected", m.replicasRejected()),
                java.util.Map.entry("replication.replicas.kept", m.replicasKept()),
                java.util.Map.entry("reads.local", m.readsLocal()),
                java.util.Map.entry("reads.peers", m.readsFromPeers()),
                java.util.Map.entry("reads.peers.bytes", m.bytesReadFromPeers()),
                java.util.Map.entry("peer.call.failures", m.peerCallFailures()));
    }

    @Override
    public java.util.Map<String, Long> gauges() {
        return java.util.Map.of("replication.lag.bytes", replication == null ? 0 : replication.lagBytes(),
                "replication.retries.pending", replication == null ? 0L : replication.pendingRetries(),
                "memory.used.bytes", memory.usedBytes());
    }

    /** Bytes of objects held in this peer's memory: its own and the replicas it keeps for others. */
    public long usedBytes() {
        return memory.usedBytes();
    }

    /** This peer's configuration. */
    public PeerMemoryConfig config() {
        return config;
    }

    @Override
    public void put(String key, ByteBuffer data) throws IOException {
        checkOpen();
        long size = data.remaining();
        memory.put(key, data);
        replicate(key, size, false);
    }

    /**
     * A chunk's create from parts: into this rank's memory part by part ({@link MemoryObjectStore#putIfAbsentGathered}),
     * then replicated, asking only this peer's memory whether it holds the key, as {@link #putIfAbsentSyncingNameLater}.
     */
    @Override
    public boolean putIfAbsentGathered(String key, ByteBuffer[] parts) throws IOException {
        checkOpen();
        long size = 0;
        for (ByteBuffer p : parts) {
            size += p.remaining();
        }
        if (!memory.putIfAbsentGathered(key, parts)) {
            return false;
        }
        replicate(key, size, true);
        return true;
    }

    @Override
    public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
        checkOpen();
        ObjectKeys.check(key);
        for (ObjectInfo held : askEveryPeer(link -> link.stat(key))) {
            if (held != null) {
                return false; // an unreachable peer cannot object; see the class comment
            }
        }
        long size = data.remaining();
        if (!memory.putIfAbsent(key, data)) {
            return false;
        }
        // A plain replica, not a create-only one: what this create-only write is for (a MANIFEST, a rank's index)
        // names the bytes written here, and a target may still hold a stale object of a failed attempt under the key
        // (a peer that was down when the peers were asked above); a create-only replica would leave that one there.
        replicate(key, size, false);
        return true;
    }

    /**
     * A chunk's create: only this peer's memory is asked whether it holds the key (asking every peer for every chunk
     * would cost a round trip per peer per chunk); created here, it is replicated as by {@link #put}, but as a
     * create-only replica: a target that holds the key already (it created the same content itself, perhaps in
     * another stored form, or holds another peer's replica of it) keeps its own object and is not given this one.
     */
    @Override
    public boolean putIfAbsentSyncingNameLater(String key, ByteBuffer data) throws IOException {
        checkOpen();
        ObjectKeys.check(key);
        long size = data.remaining();
        if (!memory.putIfAbsent(key, data)) {
            return false;
        }
        replicate(key, size, true);
        return true;
    }

    @Override
    public int read(String key, long offset, ByteBuffer dst) throws IOException {
        try {
            int n = memory.read(key, offset, dst);
            readsLocal.increment();
            return n;
        } catch (NoSuchFileException notHere) {
            checkOpen();
        }
        int n = fromPeers(key, link -> {
            int got = link.read(key, offset, dst);
            return got >= 0 ? got : null;
        });
        readsFromPeers.increment();
        bytesReadFromPeers.add(n);
        return n;
    }

    /**
     * This peer's copy if it has one, else the first peer's in read order, each asked in one call (the bulk lane
     * answers a whole read with its length first): a rank reading the others' indexes, or their MANIFEST, pays one
     * round trip per peer asked instead of a stat and a read.
     */
    @Override
    public ByteBuffer readAll(String key, long maxBytes) throws IOException {
        long limit = Math.min(maxBytes, Integer.MAX_VALUE - 8);
        try {
            long size = memory.stat(key).size();
            if (size > limit) {
                throw new dev.cairn.ObjectTooLargeException(key, size, limit);
            }
            ByteBuffer local = memory.readAll(key, limit);
            readsLocal.increment();
            return local;
        } catch (NoSuchFileException notHere) {
            checkOpen();
        }
        byte[] whole = fromAllPeers(key, link -> link.readWhole(key, limit));
        readsFromPeers.increment();
        bytesReadFromPeers.add(whole.length);
        return ByteBuffer.wrap(whole);
    }

    /** This peer's answers, then every reachable peer's for the rest, all peers asked at once. */
    @Override
    public Map<String, ObjectInfo> statAll(java.util.Collection<String> keys) throws IOException {
        checkOpen();
        Map<String, ObjectInfo> held = new java.util.LinkedHashMap<>();
        List<String> elsewhere = new ArrayList<>();
        for (String key : keys) {
            try {
                held.put(key, memory.stat(key));
            } catch (NoSuchFileException notHere) {
                elsewhere.add(key);
            }
        }
        if (!elsewhere.isEmpty()) {
            List<Integer> silent = new ArrayList<>();
            for (List<ObjectInfo> answer : askEveryPeer(link -> link.statAll(elsewhere), silent)) {
                for (ObjectInfo info : answer) {
                    held.putIfAbsent(info.key(), info);
                }
            }
            long unfound = elsewhere.stream().filter(k -> !held.containsKey(k)).count();
            if (unfound > 0 && !silent.isEmpty()) {
                // A key left out must mean "not held", and a commit fails its step on it: a peer that is slow or
                // marked down for a moment may hold exactly those keys (a replacement rank's chunks, not yet
                // replicated), so the answer is no answer. The caller asks again or fails with this reason.
                throw new IOException("peer memory store " + config.peerIndex() + " cannot tell whether it holds " + unfound
                        + " of " + keys.size() + " keys: peer(s) " + silent + " did not answer and the others do not hold them");
            }
        }
        return held;
    }

    @Override
    public ObjectInfo stat(String key) throws IOException {
        try {
            return memory.stat(key);
        } catch (NoSuchFileException notHere) {
            checkOpen();
        }
        return fromAllPeers(key, link -> link.stat(key));
    }

    /** One call to one peer: its answer, or null when that peer does not hold the key. */
    @FunctionalInterface
    private interface PeerCall<T> {
        T ask(PeerLink link) throws IOException;
    }

    /**
     * The first answer of the peers, in read order (placement targets first): unreachable peers are skipped, a peer
     * that does not hold the key passes to the next; {@link #missing} when none answers.
     */
    private <T> T fromPeers(String key, PeerCall<T> call) throws IOException {
        List<Integer> unreachable = new ArrayList<>();
        IOException answered = null;
        for (int peer : readOrder) {
            PeerLink link = reachable(peer);
            if (link == null) {
                unreachable.add(peer);
                continue;
            }
            try {
                T answer = call.ask(link);
                if (answer != null) {
                    return answer;
                }
            } catch (IOException e) {
                answered = failedAt(peer, e, unreachable, answered);
            }
        }
        throw missing(key, unreachable, answered);
    }

    /**
     * As {@link #fromPeers}, for small answers (a stat, a manifest or an index read whole): every reachable peer is
     * asked at once and the first answer in read order is taken, so a key that the first peers do not hold (a MANIFEST
     * not yet created, another rank's index) costs one round trip, not one per peer in turn.
     */
    private <T> T fromAllPeers(String key, PeerCall<T> call) throws IOException {
        List<Integer> order = new ArrayList<>();
        List<Integer> unreachable = new ArrayList<>();
        for (int peer : readOrder) {
            if (reachable(peer) == null) {
                unreachable.add(peer);
            } else {
                order.add(peer);
            }
        }
        if (order.size() <= 1) {
            return fromPeers(key, call);
        }
        List<java.util.concurrent.Future<T>> calls = new ArrayList<>(order.size());
        try {
            for (int peer : order) {
                PeerLink link = links[peer];
                calls.add(asking.submit(() -> link == null ? null : call.ask(link)));
            }
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            calls.forEach(c -> c.cancel(true));
            checkOpen();
            throw new IOException("peer memory store " + config.peerIndex() + " is closing", closing);
        }
        IOException answered = null;
        T first = null;
        for (int i = 0; i < calls.size(); i++) {
            try {
                T answer = calls.get(i).get(); // each call ends by its own deadline
                if (answer != null && first == null) {
                    first = answer;
                }
            } catch (java.util.concurrent.ExecutionException e) {
                IOException failure = e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
                answered = failedAt(order.get(i), failure, unreachable, answered);
            } catch (InterruptedException e) {
                calls.forEach(c -> c.cancel(true));
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted asking the peers for " + key);
            }
        }
        if (first != null) {
            return first;
        }
        throw missing(key, unreachable, answered);
    }

    /**
     * The union of this peer's objects and every reachable peer's under {@code prefix}; this peer's win ties. A peer
     * that is down or does not answer is left out: a restore after a peer's loss lists what the others hold.
     */
    @Override
    public List<ObjectInfo> list(String prefix) throws IOException {
        return list(prefix, new ArrayList<>());
    }

    /**
     * As {@link #list}, failing when a peer is down or did not answer: what only that peer holds (a MANIFEST, the
     * index of a rank it replicates) would be missing from the union, and garbage collection would take the step for
     * abandoned and its chunks, held by the peers that answered, for unused.
     */
    @Override
    public List<ObjectInfo> listWhole(String prefix) throws IOException {
        List<Integer> silent = new ArrayList<>();
        List<ObjectInfo> union = list(prefix, silent);
        if (silent.isEmpty()) {
            return union;
        }
        // Asked once more, now: a peer is marked down for a while after any failed call, and a call fails at once
        // while its connection is in backoff, as after this peer tried to connect before that one listened (a run's
        // peers start one by one). A peer that is really gone fails again: at once where its host refuses the
        // connection, else within the peer timeout.
        List<PeerLink> again = new ArrayList<>();
        List<Integer> still = new ArrayList<>();
        for (int peer : silent) {
            PeerLink link = links[peer];
            if (link == null) {
                still.add(peer); // no address: cannot be asked
            } else {
                link.retryNow();
                again.add(link);
            }
        }
        Map<String, ObjectInfo> whole = new TreeMap<>();
        for (ObjectInfo info : union) {
            whole.put(info.key(), info);
        }
        List<Integer> failed = new ArrayList<>();
        for (List<ObjectInfo> listing : askPeers(again, link -> dialed(link).list(prefix), failed)) {
            for (ObjectInfo info : listing) {
                whole.putIfAbsent(info.key(), info);
            }
        }
        for (int peer : failed) {
            links[peer].markDown(); // down again: the next calls skip it, as after any failed call
        }
        still.addAll(failed);
        if (!still.isEmpty()) {
            throw new IOException("peer memory store " + config.peerIndex() + " cannot list " + prefix
                    + " whole: peer(s) " + still + " did not answer");
        }
        return new ArrayList<>(whole.values());
    }

    /** {@code link} once its connection is ready ({@link PeerLink#awaitConnected}); an IOException if it cannot be. */
    private static PeerLink dialed(PeerLink link) throws IOException {
        try {
            if (link.awaitConnected()) { // within the peer timeout
                return link;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted connecting to " + link);
        }
        throw new IOException(link + " could not be connected to");
    }

    /** The union under {@code prefix}; the peers not asked or not answering are added to {@code silent}. */
    private List<ObjectInfo> list(String prefix, List<Integer> silent) throws IOException {
        checkOpen();
        Map<String, ObjectInfo> union = new TreeMap<>();
        for (ObjectInfo info : memory.list(prefix)) {
            union.put(info.key(), info);
        }
        for (List<ObjectInfo> listing : askEveryPeer(link -> link.list(prefix), silent)) {
            for (ObjectInfo info : listing) {
                union.putIfAbsent(info.key(), info);
            }
        }
        return new ArrayList<>(union.values());
    }

    /**
     * Asks every reachable peer at once and returns their answers in read order, leaving out the peers whose call
     * failed (counted): each call is a round trip, and a listing or a create would otherwise pay one per peer in turn.
     */
    private <T> List<T> askEveryPeer(PeerCall<T> call) throws IOException {
        return askEveryPeer(call, new ArrayList<>());
    }

    /** As {@link #askEveryPeer(PeerCall)}, adding to {@code silent} the peers not asked (down) or whose call failed. */
    private <T> List<T> askEveryPeer(PeerCall<T> call, List<Integer> silent) throws IOException {
        List<PeerLink> up = new ArrayList<>();
        for (int peer : readOrder) {
            PeerLink link = reachable(peer);
            if (link != null) {
                up.add(link);
            } else {
                silent.add(peer);
            }
        }
        return askPeers(up, call, silent);
    }

    /** Asks each of {@code up} at once; their answers in that order, adding to {@code silent} those whose call failed. */
    private <T> List<T> askPeers(List<PeerLink> up, PeerCall<T> call, List<Integer> silent) throws IOException {
        if (up.isEmpty()) {
            return List.of();
        }
        if (up.size() == 1) {
            try {
                return java.util.Collections.singletonList(call.ask(up.get(0)));
            } catch (IOException e) {
                peerCallFailures.increment();
                silent.add(up.get(0).index());
                return List.of();
            }
        }
        List<java.util.concurrent.Future<T>> calls = new ArrayList<>(up.size());
        try {
            for (PeerLink link : up) {
                calls.add(asking.submit(() -> call.ask(link)));
            }
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            calls.forEach(c -> c.cancel(true));
            checkOpen();
            throw new IOException("peer memory store " + config.peerIndex() + " is closing", closing);
        }
        List<T> answers = new ArrayList<>(up.size());
        for (int i = 0; i < calls.size(); i++) {
            try {
                answers.add(calls.get(i).get()); // each call ends by its own deadline
            } catch (java.util.concurrent.ExecutionException e) {
                peerCallFailures.increment();
                silent.add(up.get(i).index());
            } catch (InterruptedException e) {
                calls.forEach(c -> c.cancel(true));
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted asking the peers");
            }
        }
        return answers;
    }

    @Override
    public void delete(String key) throws IOException {
        checkOpen();
        memory.delete(key);
        if (replication != null) {
            try {
                replication.awaitNotSending(key, System.nanoTime() + config.callTimeout().toNanos());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted deleting " + key);
            }
        }
        for (PeerLink link : reachable()) {
            try {
                link.delete(key);
            } catch (IOException e) {
                peerCallFailures.increment(); // best effort: garbage collection comes again
            }
        }
    }

    /** This rank's own memory, which is where a read of an object this rank wrote is served from. */
    @Override
    public boolean inMemory() {
        return true;
    }

    /** True: {@link #list} leaves out the peers that do not answer ({@link #listWhole} fails instead). */
    @Override
    public boolean listsMayBePartial() {
        return true;
    }

    @Override
    public String describe() {
        return "peer memory (peer " + config.peerIndex() + " of " + config.peerCount() + " at " + config.host() + ":"
                + (server == null ? config.port() : server.getPort()) + ", limit " + config.memoryLimitBytes()
                + " bytes, replicas to " + config.replicaTargets() + ")";
    }

    @Override
    public void close() throws IOException {
        synchronized (linksLock) {
            if (closed) {
                return;
            }
            closed = true;
        }
        boolean interrupted = false;
        if (replication != null) {
            replication.stop(); // senders cancel the replica they were sending
        }
        PeerLink[] last;
        synchronized (linksLock) {
            last = links;
            links = new PeerLink[config.peerCount()];
        }
        for (PeerLink link : last) {
            if (link != null) {
                link.abort(); // and a sender waiting for a peer's answer is released at once
            }
        }
        try {
            if (replication != null) {
                replication.awaitStopped(CLOSE_WAIT_MILLIS);
            }
        } catch (InterruptedException e) {
            interrupted = true;
        }
        interrupted |= closeLinks(last);
        service.closeBarriers(); // before the server: it would wait seconds for their open calls, then cancel them
        try {
            server.close(); // lets running calls finish for a while, then cancels them
            service.close(CLOSE_WAIT_MILLIS); // and waits for their handlers, which free what they staged
            bulk.close(); // closes every bulk connection and waits for their threads, which free what they shared
            asking.shutdownNow();
            serverExecutor.shutdownNow(); // interrupts a handler still waiting on a peer that went away
            serverExecutor.awaitTermination(CLOSE_WAIT_MILLIS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            interrupted = true;
        }
        memory.close();
        deadlines.close();
        try {
            awaitReleased(clientAllocator, serverAllocator);
        } catch (InterruptedException e) {
            interrupted = true;
        }
        try {
            serverAllocator.close();
            clientAllocator.close();
            root.close();
        } catch (IllegalStateException leak) {
            throw new IOException("peer " + config.peerIndex() + " leaked Arrow memory: " + leak.getMessage(), leak);
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Waits, up to {@code CLOSE_WAIT_MILLIS}, for the network to give back the buffers it still references. A
     * channel reports itself terminated from inside Netty's close, before Netty fails the writes still queued on
     * it; those hold zero-copy slices of a replica or of a read's answer until the event loop releases them a moment
     * later. What is still allocated after the wait is a leak, and closing the allocators reports it.
     */
    private static void awaitReleased(BufferAllocator... allocators) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(CLOSE_WAIT_MILLIS);
        for (BufferAllocator allocator : allocators) {
            while (allocator.getAllocatedMemory() > 0 && System.nanoTime() - deadline < 0) {
                Thread.sleep(1);
            }
        }
    }

    // ---- replication ---------------------------------------------------------------------------------------

    /**
     * Queues {@code key}'s replicas; {@code createOnly} for a chunk created here, whose replica then
     * replaces nothing its target holds (a chunk the target created itself, perhaps in another stored form: its own
     * index records that form's length).
     */
    private void replicate(String key, long size, boolean createOnly) throws IOException {
        if (replication != null) {
            replication.enqueue(key, size, createOnly, System.nanoTime() + config.callTimeout().toNanos());
        }
    }

    /** Replication's sender: one consistent copy of the object's current version, sent to {@code peer}. */
    private long sendReplica(int peer, String key, boolean createOnly) throws IOException, InterruptedException {
        PeerLink link = reachable(peer);
        if (link == null) {
            throw new PeerLink.PeerException("peer " + peer + " is down or has no address", FlightStatusCode.UNAVAILABLE, null);
        }
        // One version of the object, without a copy: a lease on its memory, which stays valid (and unchanged) until
        // closed whatever happens to the key meanwhile, and goes back to the store for reuse after.
        MemoryObjectStore.Lease lease;
        try {
            lease = memory.lease(key);
        } catch (NoSuchFileException gone) {
            return -1;
        }
        try (lease) {
            link.replicate(key, createOnly, lease, clientAllocator, pacing);
            return lease.size();
        }
    }

    // ---- peers ---------------------------------------------------------------------------------------------

    /** The link to {@code peer} if it has an address and is not marked down. */
    private PeerLink reachable(int peer) {
        PeerLink link = links[peer];
        return link != null && link.available() ? link : null;
    }

    private List<PeerLink> reachable() {
        List<PeerLink> up = new ArrayList<>();
        for (int peer : readOrder) {
            PeerLink link = reachable(peer);
            if (link != null) {
                up.add(link);
            }
        }
        return up;
    }

    /** Counts a failed call; keeps the first error of a peer that answered (as opposed to one that is gone). */
    private IOException failedAt(int peer, IOException e, List<Integer> unreachable, IOException answered) {
        peerCallFailures.increment();
        if (e instanceof PeerLink.PeerException failure && failure.unreachable()) {
            unreachable.add(peer);
            return answered;
        }
        return answered == null ? e : answered;
    }

    /**
     * Nobody reachable has {@code key}: missing, unless a peer that may have it answered with an error (out of
     * transfer memory, say), which is then the failure, so that a caller does not take an error for absence.
     */
    private IOException missing(String key, List<Integer> unreachable, IOException answered) {
        if (answered instanceof dev.cairn.ObjectTooLargeException tooLarge) {
            return tooLarge; // what the caller's limit refused, as the caller knows it
        }
        if (answered != null) {
            return new IOException("no peer served " + key + ": " + answered.getMessage(), answered);
        }
        return new NoSuchFileException(key, null, "not on peer " + config.peerIndex() + " nor on any reachable peer"
                + (unreachable.isEmpty() ? "" : " (unreachable: " + unreachable + ")"));
    }

    /** This peer's placement targets first (they hold what it wrote), then the others around the ring. */
    private static List<Integer> readOrder(PeerMemoryConfig config) {
        List<Integer> order = new ArrayList<>(config.replicaTargets());
        for (int step = 1; step < config.peerCount(); step++) {
            int peer = (config.peerIndex() + step) % config.peerCount();
            if (!order.contains(peer)) {
                order.add(peer);
            }
        }
        return List.copyOf(order);
    }

    private static boolean closeLinks(PeerLink[] links) {
        boolean interrupted = false;
        if (links != null) {
            for (PeerLink link : links) {
                if (link != null) {
                    try {
                        link.close();
                    } catch (InterruptedException e) {
                        interrupted = true;
                    }
                }
            }
        }
        return interrupted;
    }

    private void checkOpen() throws IOException {
        if (closed) {
            throw new IOException("peer memory store " + config.peerIndex() + " is closed");
        }
    }

    private static void closeQuietly(FlightServer server, BulkServer lane, MemoryObjectStore objects,
                                     BufferAllocator... allocators) {
        try {
            if (server != null) {
                server.close();
            }
            if (lane != null) {
                lane.close();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (objects != null) {
            objects.close();
        }
        for (BufferAllocator allocator : allocators) {
            if (allocator != null) {
                allocator.close();
            }
        }
    }

    private static ThreadFactory daemonThreads(String prefix) {
        AtomicInteger count = new AtomicInteger();
        return runnable -> {
            Thread thread = new Thread(runnable, prefix + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        };
    }

    private static long saturatedAdd(long a, long b) {
        long sum = a + b;
        return sum < 0 ? Long.MAX_VALUE : sum;
    }
}
