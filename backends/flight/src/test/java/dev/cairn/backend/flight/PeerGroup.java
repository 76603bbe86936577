package dev.cairn.backend.flight;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * A group of peers on loopback in this JVM, each on an ephemeral port, connected to each other once all are up:
 * how ranks start in a real run. Closing the group closes every peer still open; each close checks for leaks.
 */
final class PeerGroup implements AutoCloseable {
    static final long MIB = 1 << 20;

    private final List<PeerMemoryStore> peers = new ArrayList<>();
    private final List<InetSocketAddress> addresses = new ArrayList<>();
    private final boolean[] closed;

    private PeerGroup(int count) {
        closed = new boolean[count];
    }

    /** {@code count} peers, each configured by {@code tune} on top of small test defaults. */
    static PeerGroup start(int count, UnaryOperator<PeerMemoryConfig.Builder> tune) throws IOException {
        PeerGroup group = new PeerGroup(count);
        try {
            for (int i = 0; i < count; i++) {
                PeerMemoryStore peer = PeerMemoryStore.start(tune.apply(defaults(i, count)).build());
                group.peers.add(peer);
                group.addresses.add(peer.address());
            }
            for (PeerMemoryStore peer : group.peers) {
                peer.connect(group.addresses);
            }
            return group;
        } catch (IOException | RuntimeException e) {
            group.close();
            throw e;
        }
    }

    static PeerGroup start(int count) throws IOException {
        return start(count, UnaryOperator.identity());
    }

    static PeerMemoryConfig.Builder defaults(int index, int count) {
        return PeerMemoryConfig.builder(index, count)
                .memoryLimitBytes(256 * MIB)
                .peerTimeout(Duration.ofSeconds(1))
                .callTimeout(Duration.ofSeconds(20));
    }

    PeerMemoryStore peer(int index) {
        return peers.get(index);
    }

    List<InetSocketAddress> addresses() {
        return List.copyOf(addresses);
    }

    /** Closes one peer, as if its process died (its memory is gone with it). */
    void kill(int index) throws IOException {
        if (!closed[index]) {
            closed[index] = true;
            peers.get(index).close();
        }
    }

    /**
     * Starts an empty peer in the place of {@code index} (on a new port, as a restarted rank would get) and tells
     * every peer still open where it is now.
     */
    PeerMemoryStore replace(int index, UnaryOperator<PeerMemoryConfig.Builder> tune) throws IOException {
        kill(index);
        PeerMemoryStore fresh = PeerMemoryStore.start(tune.apply(defaults(index, closed.length)).build());
        peers.set(index, fresh);
        addresses.set(index, fresh.address());
        closed[index] = false;
        for (int i = 0; i < peers.size(); i++) {
            if (!closed[i]) {
                peers.get(i).connect(addresses);
            }
        }
        return fresh;
    }

    /** Waits until every open peer has sent what it queued. */
    void awaitReplication() throws InterruptedException {
        for (int i = 0; i < peers.size(); i++) {
            if (!closed[i] && !peers.get(i).awaitReplication(Duration.ofSeconds(30))) {
                throw new AssertionError("peer " + i + " did not finish replicating in 30 s: " + peers.get(i).metrics());
            }
        }
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (int i = 0; i < peers.size(); i++) {
            try {
                kill(i);
            } catch (IOException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
