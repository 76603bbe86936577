package dev.cairn.backend.flight;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

class PeerMemoryConfigTest {

    /** Bad settings fail as the API promises: CheckpointException with INVALID_CONFIG. */
    private static CheckpointException invalid(Executable setting) {
        CheckpointException e = assertThrows(CheckpointException.class, setting);
        assertEquals(CheckpointException.Reason.INVALID_CONFIG, e.reason(), e.getMessage());
        return e;
    }

    @Test
    void defaultsReplicateOnceToTheNextPeerOnTheRing() {
        PeerMemoryConfig config = PeerMemoryConfig.builder(2, 3).build();
        assertEquals(List.of(0), config.replicaTargets());
        assertEquals(PeerMemoryConfig.DEFAULT_MEMORY_LIMIT, config.memoryLimitBytes());
        assertEquals(PeerMemoryConfig.UNLIMITED, config.replicationBandwidth());
        assertEquals(0, config.port());
        assertEquals(List.of(), config.peers());
    }

    @Test
    void aRingOfKTargetsWrapsAround() {
        assertEquals(List.of(4, 0, 1), PeerMemoryConfig.builder(3, 5).replicationFactor(3).build().replicaTargets());
        assertEquals(List.of(), PeerMemoryConfig.builder(0, 1).build().replicaTargets(), "a group of one has nobody");
        assertEquals(List.of(), PeerMemoryConfig.builder(1, 3).replicationFactor(0).build().replicaTargets());
    }

    @Test
    void placementGroupsKeepReplicasInsideTheWritersGroup() {
        PeerMemoryConfig.Builder builder = PeerMemoryConfig.builder(4, 6)
                .placementGroups(List.of(List.of(0, 2, 4), List.of(1, 3, 5)));
        assertEquals(List.of(0), builder.build().replicaTargets());
        assertEquals(List.of(0, 2), builder.replicationFactor(2).build().replicaTargets());
    }

    @Test
    void badSettingsFailAtOnceAsABadConfigurationNamingWhatIsWrong() {
        invalid(() -> PeerMemoryConfig.builder(3, 3));
        invalid(() -> PeerMemoryConfig.builder(0, 0));
        PeerMemoryConfig.Builder builder = PeerMemoryConfig.builder(0, 3);
        invalid(() -> builder.listen("host", 70_000));
        invalid(() -> builder.listen(" ", 1));
        invalid(() -> builder.memoryLimitBytes(0));
        invalid(() -> builder.replicationBandwidth(-1));
        invalid(() -> builder.replicationFactor(-1));
        invalid(() -> builder.callTimeout(Duration.ZERO));
        invalid(() -> builder.peers(List.of(new InetSocketAddress("a", 1))));
        CheckpointException twice = invalid(() -> builder.placementGroups(List.of(List.of(0, 1), List.of(1, 2))));
        assertTrue(twice.getMessage().contains("peer 1"), twice.getMessage());
        invalid(() -> builder.placementGroups(List.of(List.of(0, 1))));
    }

    @Test
    void combinationsAreCheckedByBuild() {
        CheckpointException tooMany = invalid(() -> PeerMemoryConfig.builder(0, 3).replicationFactor(3).build());
        assertTrue(tooMany.getMessage().contains("replication factor 3"), tooMany.getMessage());
        invalid(() -> PeerMemoryConfig.builder(0, 4)
                .placementGroups(List.of(List.of(0, 1), List.of(2, 3))).replicationFactor(2).build());
        invalid(() -> PeerMemoryConfig.builder(0, 2)
                .callTimeout(Duration.ofSeconds(1)).peerTimeout(Duration.ofSeconds(2)).build());
    }

    @Test
    void connectingToAWrongNumberOfPeersIsABadConfiguration() throws Exception {
        try (PeerMemoryStore store = PeerMemoryStore.start(PeerGroup.defaults(0, 2).build())) {
            invalid(() -> store.connect(List.of(store.address())));
        }
    }

    @Test
    void aStoreReportsTheEphemeralPortItBound() throws Exception {
        try (PeerMemoryStore store = PeerMemoryStore.start(PeerGroup.defaults(0, 1).build())) {
            assertTrue(store.address().getPort() > 0);
            assertTrue(store.describe().contains(":" + store.address().getPort()), store.describe());
        }
    }
}
