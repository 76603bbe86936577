package dev.cairn.backend.flight;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.ObjectInfo;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import net.jqwik.api.constraints.StringLength;

/** Round trips of the peer wire format, and the invariants of ring placement. */
class PeerProtocolProperties {

    @Property(tries = 300)
    void aReadTicketDecodesToWhatWasEncoded(@ForAll @StringLength(max = 300) String key,
                                            @ForAll @LongRange(min = 0) long offset, @ForAll @LongRange(min = 0) long length) {
        PeerProtocol.Read read = PeerProtocol.decodeRead(PeerProtocol.read(key, offset, length));
        assertEquals(new PeerProtocol.Read(key, offset, length), read);
    }

    @Property(tries = 300)
    void replicaDescriptorsAndInfosRoundTrip(@ForAll @StringLength(max = 300) String key, @ForAll @LongRange(min = 0) long size,
                                             @ForAll @LongRange(min = 0, max = 4_000_000_000L) long seconds,
                                             @ForAll @IntRange(max = 999_999_999) int nanos) {
        boolean createOnly = size % 2 == 0;
        assertEquals(new PeerProtocol.Replica(key, size, createOnly),
                PeerProtocol.decodeReplica(PeerProtocol.replica(key, size, createOnly)));
        ObjectInfo info = new ObjectInfo(key, size, Instant.ofEpochSecond(seconds, nanos));
        assertEquals(info, PeerProtocol.decodeInfo(PeerProtocol.info(info)));
        assertEquals(key, PeerProtocol.decodeKeyBody(PeerProtocol.keyBody(PeerProtocol.LIST, key), PeerProtocol.LIST));
    }

    @Property(tries = 100)
    void listingsRoundTrip(@ForAll @net.jqwik.api.constraints.Size(max = 40) List<@StringLength(max = 80) String> keys,
                           @ForAll @LongRange(min = 0) long size) {
        List<ObjectInfo> infos = keys.stream().map(k -> new ObjectInfo(k, size, Instant.ofEpochSecond(size % 4_000_000_000L, 7)))
                .toList();
        assertEquals(infos, PeerProtocol.decodeInfos(PeerProtocol.infos(infos)));
        assertEquals(PeerProtocol.LIST, PeerProtocol.kindOf(PeerProtocol.keyBody(PeerProtocol.LIST, "p")));
    }

    @Property(tries = 100)
    void aMessageOfAnotherKindOrVersionIsRefused(@ForAll @StringLength(max = 40) String key) {
        byte[] ticket = PeerProtocol.read(key, 1, 2);
        assertThrows(IllegalArgumentException.class, () -> PeerProtocol.decodeReplica(ticket));
        ticket[2] = PeerProtocol.VERSION + 1; // version
        IllegalArgumentException newer = assertThrows(IllegalArgumentException.class, () -> PeerProtocol.decodeRead(ticket));
        assertTrue(newer.getMessage().contains("version " + (PeerProtocol.VERSION + 1)), newer.getMessage());
    }

    @Property(tries = 200)
    void barrierArrivalsAndTheirReleasedTokensRoundTrip(@ForAll @StringLength(max = 120) String name,
                                                        @ForAll @IntRange(min = 0, max = 9_999) int rank,
                                                        @ForAll @LongRange(min = 0) long timeoutMillis,
                                                        @ForAll long caller,
                                                        @ForAll @net.jqwik.api.constraints.Size(max = 30) List<@StringLength(max = 200) String> tokens) {
        String token = tokens.isEmpty() ? "" : tokens.get(0);
        PeerProtocol.Arrival a = new PeerProtocol.Arrival(name, rank, rank + 1, timeoutMillis, token, caller);
        assertEquals(a, PeerProtocol.decodeBarrier(PeerProtocol.barrier(name, rank, rank + 1, timeoutMillis, token, caller)));
        assertEquals(tokens, PeerProtocol.decodeTokens(PeerProtocol.tokens(tokens)));
        byte[] cut = PeerProtocol.tokens(tokens.isEmpty() ? List.of("x") : tokens);
        assertThrows(IllegalArgumentException.class, () -> PeerProtocol.decodeTokens(java.util.Arrays.copyOf(cut, cut.length - 1)));
    }

    @Property(tries = 300)
    void ringTargetsAreDistinctOtherPeersAndEveryPeerHoldsAsManyReplicasAsItSends(
            @ForAll @IntRange(min = 1, max = 40) int peers, @ForAll @IntRange(min = 0, max = 39) int k) {
        int replicas = Math.min(k, peers - 1);
        Placement placement = Placement.ring(peers, replicas);
        int[] held = new int[peers];
        for (int p = 0; p < peers; p++) {
            List<Integer> targets = placement.targetsOf(p);
            assertEquals(replicas, targets.size());
            assertFalse(targets.contains(p), "peer " + p + " replicates to itself");
            Set<Integer> distinct = new HashSet<>(targets);
            assertEquals(targets.size(), distinct.size());
            targets.forEach(t -> held[t]++);
        }
        for (int count : held) {
            assertEquals(replicas, count, "a ring spreads replicas evenly");
        }
    }
}
