package dev.cairn.backend.flight;

import dev.cairn.CheckpointException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Objects;

/**
 * How one peer of a {@link PeerMemoryStore} group is set up: immutable, built by {@link #builder(int, int)}. Every
 * setter checks its argument at once; {@link Builder#build()} checks the combinations; either fails with
 * {@link CheckpointException} (INVALID_CONFIG), naming the setting.
 *
 * <p>Peers are numbered {@code 0 .. peerCount-1} (the training ranks, usually). Each peer replicates what it writes
 * to its placement targets: by default the next {@code k} peers on a ring ({@code i+1 .. i+k mod n}); with
 * {@link Builder#placementGroups} the ring runs within each group instead, so that, say, replicas stay off the
 * writer's own node or rack. The addresses of the other peers may be given here or later through
 * {@link PeerMemoryStore#connect(List)}, once every peer has bound its (ephemeral) port.
 *
 * <pre>{@code
 * PeerMemoryConfig config = PeerMemoryConfig.builder(rank, worldSize)
 *         .listen("10.0.0.5", 0)                  // port 0: ephemeral, see PeerMemoryStore.address()
 *         .memoryLimitBytes(8L << 30)             // local objects and the replicas held for others
 *         .replicationFactor(1)
 *         .replicationBandwidth(1L << 30)         // bytes/s of replication traffic
 *         .build();
 * }</pre>
 */
public final class PeerMemoryConfig {

    /** Defaults, in one place. */
    static final String DEFAULT_HOST = "127.0.0.1";
    static final int DEFAULT_REPLICATION_FACTOR = 1;
    static final long DEFAULT_MEMORY_LIMIT = 1L << 30;
    static final long DEFAULT_REPLICATION_QUEUE_BYTES = 256L << 20;
    static final long DEFAULT_TRANSFER_BUFFER_BYTES = 256L << 20;
    static final Duration DEFAULT_CALL_TIMEOUT = Duration.ofSeconds(60);
    static final Duration DEFAULT_PEER_TIMEOUT = Duration.ofSeconds(2);
    /** No limit on replication bandwidth. */
    public static final long UNLIMITED = Long.MAX_VALUE;

    private final int peerIndex;
    private final int peerCount;
    private final String host;
    private final int port;
    private final List<InetSocketAddress> peers;
    private final Placement placement;
    private final long memoryLimitBytes;
    private final long replicationQueueBytes;
    private final long replicationBandwidth;
    private final long transferBufferBytes;
    private final Duration callTimeout;
    private final Duration peerTimeout;
    private final boolean connectAhead;

    private PeerMemoryConfig(Builder b) {
        this.peerIndex = b.peerIndex;
        this.peerCount = b.peerCount;
        this.host = b.host;
        this.port = b.port;
        this.peers = b.peers;
        this.placement = b.groups == null
                ? Placement.ring(b.peerCount, b.replicationFactor)
                : Placement.ringWithinGroups(b.peerCount, b.replicationFactor, b.groups);
        this.memoryLimitBytes = b.memoryLimitBytes;
        this.replicationQueueBytes = b.replicationQueueBytes;
        this.replicationBandwidth = b.replicationBandwidth;
        this.transferBufferBytes = b.transferBufferBytes;
        this.callTimeout = b.callTimeout;
        this.peerTimeout = b.peerTimeout;
        this.connectAhead = b.connectAhead;
    }

    /** A builder for peer {@code peerIndex} of a group of {@code peerCount}, every other setting at its default. */
    public static Builder builder(int peerIndex, int peerCount) {
        return new Builder(peerIndex, peerCount);
    }

    /** This peer's index in the group. */
    public int peerIndex() {
        return peerIndex;
    }

    /** How many peers the group has, this one included. */
    public int peerCount() {
        return peerCount;
    }

    /** The host this peer's server binds. */
    public String host() {
        return host;
    }

    /** The port this peer's server binds; 0 for an ephemeral one. */
    public int port() {
        return port;
    }

    /** The peers' addresses by index, or an empty list until {@link PeerMemoryStore#connect} is called. */
    public List<InetSocketAddress> peers() {
        return peers;
    }

    /** The peers this one replicates its writes to, in order. */
    public List<Integer> replicaTargets() {
        return placement.targetsOf(peerIndex);
    }

    /** The peers that may hold a replica of what {@code peer} wrote, in the order a reader asks them. */
    List<Integer> targetsOf(int peer) {
        return placement.targetsOf(peer);
    }

    /** The most bytes of objects this peer holds: its own and the replicas it keeps for others. */
    public long memoryLimitBytes() {
        return memoryLimitBytes;
    }

    /** The most bytes waiting to be replicated, summed over targets, before a put waits and then drops a replica. */
    public long replicationQueueBytes() {
        return replicationQueueBytes;
    }

    /** Bytes per second of outgoing replication traffic, all targets together; {@link #UNLIMITED} for no limit. */
    public long replicationBandwidth() {
        return replicationBandwidth;
    }

    /** Off-heap bytes for objects in transit (served, received or sent), beside {@link #memoryLimitBytes()}. */
    public long transferBufferBytes() {
        return transferBufferBytes;
    }

    /** Deadline of one data transfer with a peer (a read or a replica), and of a put's wait for queue space. */
    /** Whether the store connects to its peers as soon as it learns them ({@link Builder#connectAhead}). */
    public boolean connectAhead() {
        return connectAhead;
    }

    public Duration callTimeout() {
        return callTimeout;
    }

    /** Deadline of connecting to a peer and of one metadata call (stat, list, delete): a dead peer costs this much. */
    public Duration peerTimeout() {
        return peerTimeout;
    }

    @Override
    public String toString() {
        return "peer " + peerIndex + " of " + peerCount + " on " + host + ":" + port + ", replicas to " + replicaTargets()
                + ", memory " + memoryLimitBytes + " bytes";
    }

    /** Collects the settings of a {@link PeerMemoryConfig}. */
    public static final class Builder {
        private final int peerIndex;
        private final int peerCount;
        private String host = DEFAULT_HOST;
        private int port;
        private List<InetSocketAddress> peers = List.of();
        private int replicationFactor = DEFAULT_REPLICATION_FACTOR;
        private List<List<Integer>> groups;
        private long memoryLimitBytes = DEFAULT_MEMORY_LIMIT;
        private long replicationQueueBytes = DEFAULT_REPLICATION_QUEUE_BYTES;
        private long replicationBandwidth = UNLIMITED;
        private long transferBufferBytes = DEFAULT_TRANSFER_BUFFER_BYTES;
        private Duration callTimeout = DEFAULT_CALL_TIMEOUT;
        private Duration peerTimeout = DEFAULT_PEER_TIMEOUT;
        private boolean connectAhead = true;

        private Builder(int peerIndex, int peerCount) {
            if (peerCount < 1) {
                throw invalid("a peer group has at least one peer: " + peerCount);
            }
            if (peerIndex < 0 || peerIndex >= peerCount) {
                throw invalid("peer index " + peerIndex + " is not in 0.." + (peerCount - 1));
            }
            this.peerIndex = peerIndex;
            this.peerCount = peerCount;
        }

        /** Where this peer's Flight server listens; port 0 binds an ephemeral port. */
        public Builder listen(String host, int port) {
            Objects.requireNonNull(host, "host");
            if (host.isBlank()) {
                throw invalid("listen host is blank");
            }
            if (port < 0 || port > 65_535) {
                throw invalid("listen port out of range: " + port);
            }
            this.host = host;
            this.port = port;
            return this;
        }

        /** Every peer's address by index (this peer's own entry is not dialled); may instead be given after start. */
        public Builder peers(List<InetSocketAddress> peers) {
            this.peers = checkPeers(peers, peerCount);
            return this;
        }

        /** How many peers hold a replica of each object this peer writes (0: none). Default 1. */
        public Builder replicationFactor(int k) {
            if (k < 0) {
                throw invalid("replication factor must not be negative: " + k);
            }
            this.replicationFactor = k;
            return this;
        }

        /**
         * Replicates on a ring within each group instead of around the whole group: every peer is in exactly one
         * group, and a group has more than {@code k} peers.
         */
        public Builder placementGroups(List<List<Integer>> groups) {
            Objects.requireNonNull(groups, "groups");
            BitSet seen = new BitSet(peerCount);
            List<List<Integer>> copy = new ArrayList<>();
            for (List<Integer> group : groups) {
                if (group.isEmpty()) {
                    throw invalid("a placement group is empty");
                }
                for (int peer : group) {
                    if (peer < 0 || peer >= peerCount) {
                        throw invalid("peer " + peer + " in a placement group is not in 0.." + (peerCount - 1));
                    }
                    if (seen.get(peer)) {
                        throw invalid("peer " + peer + " is in two placement groups");
                    }
                    seen.set(peer);
                }
                copy.add(List.copyOf(group));
            }
            if (seen.cardinality() != peerCount) {
                throw invalid("placement groups leave out peer " + seen.nextClearBit(0));
            }
            this.groups = List.copyOf(copy);
            return this;
        }

        /** The most bytes of objects this peer holds, its own and replicas; a put beyond it fails. Default 1 GiB. */
        public Builder memoryLimitBytes(long bytes) {
            this.memoryLimitBytes = positive(bytes, "memory limit");
            return this;
        }

        /** The bound on bytes waiting for replication; default 256 MiB. */
        public Builder replicationQueueBytes(long bytes) {
            this.replicationQueueBytes = positive(bytes, "replication queue bound");
            return this;
        }

        /** Bytes per second of replication traffic (token bucket); default {@link #UNLIMITED}. */
        public Builder replicationBandwidth(long bytesPerSecond) {
            this.replicationBandwidth = positive(bytesPerSecond, "replication bandwidth");
            return this;
        }

        /**
         * Off-heap bytes for replicas in transit (each replica received whole before it is put); the largest one
         * must fit. Replicas are sent and reads served from the stored objects without a copy; a sent or served object
         * that is replaced or deleted meanwhile counts here until its last bytes are sent. Default 256 MiB.
         */
        public Builder transferBufferBytes(long bytes) {
            this.transferBufferBytes = positive(bytes, "transfer buffer");
            return this;
        }

        /** Deadline of one transfer with a peer and of a put's wait for replication queue space. Default 60 s. */
        public Builder callTimeout(Duration timeout) {
            this.callTimeout = positive(timeout, "call timeout");
            return this;
        }

        /** Deadline of connecting to a peer and of one metadata call. Default 2 s. */
        public Builder peerTimeout(Duration timeout) {
            this.peerTimeout = positive(timeout, "peer timeout");
            return this;
        }

        /**
         * On (the default): when the store learns its peers, a short-lived thread per peer opens the Flight channel,
         * asks the bulk port and opens one lane connection, quietly, so that a process's first reads (a replacement's
         * first restore) do not pay for it. Off: each peer is connected at its first call (a test that counts a lane's
         * connections in order turns it off).
         */
        public Builder connectAhead(boolean on) {
            this.connectAhead = on;
            return this;
        }

        /** The config; fails if the settings do not fit together. */
        public PeerMemoryConfig build() {
            int smallestGroup = groups == null ? peerCount : groups.stream().mapToInt(List::size).min().orElse(peerCount);
            if (peerCount > 1 && replicationFactor >= smallestGroup) {
                throw invalid("replication factor " + replicationFactor + " needs more than "
                        + replicationFactor + " peers in " + (groups == null ? "the group" : "every placement group")
                        + ", which has " + smallestGroup);
            }
            if (peerTimeout.compareTo(callTimeout) > 0) {
                throw invalid("peer timeout " + peerTimeout + " is longer than the call timeout " + callTimeout);
            }
            return new PeerMemoryConfig(this);
        }

        private static long positive(long value, String what) {
            if (value <= 0) {
                throw invalid(what + " must be positive: " + value);
            }
            return value;
        }

        private static Duration positive(Duration value, String what) {
            Objects.requireNonNull(value, what);
            if (value.isNegative() || value.isZero()) {
                throw invalid(what + " must be positive: " + value);
            }
            return value;
        }
    }

    /** A copy of {@code peers} after checking there is one address per peer. */
    static List<InetSocketAddress> checkPeers(List<InetSocketAddress> peers, int peerCount) {
        Objects.requireNonNull(peers, "peers");
        if (peers.size() != peerCount) {
            throw invalid("expected " + peerCount + " peer addresses, got " + peers.size());
        }
        for (int i = 0; i < peers.size(); i++) {
            Objects.requireNonNull(peers.get(i), "address of peer " + i);
        }
        return List.copyOf(peers);
    }

    /** The failure of a setting that cannot be used. */
    static CheckpointException invalid(String message) {
        return new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, message);
    }
}
