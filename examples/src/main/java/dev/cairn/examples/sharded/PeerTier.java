package dev.cairn.examples.sharded;

import dev.cairn.backend.flight.PeerMemoryConfig;
import dev.cairn.backend.flight.PeerMemoryStore;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;

/** The peer-memory tier of one rank: it listens on its own address of {@code peers} and replicates to k ring peers. */
final class PeerTier {
    private PeerTier() {
    }

    static PeerMemoryStore open(int rank, List<InetSocketAddress> peers, int replicas, long memoryLimit) throws IOException {
        InetSocketAddress me = peers.get(rank);
        PeerMemoryConfig.Builder b = PeerMemoryConfig.builder(rank, peers.size())
                .listen(me.getHostString(), me.getPort())
                .peers(peers)
                .memoryLimitBytes(memoryLimit);
        if (peers.size() > 1) {
            b.replicationFactor(Math.min(replicas, peers.size() - 1));
        }
        return PeerMemoryStore.start(b.build());
    }
}
