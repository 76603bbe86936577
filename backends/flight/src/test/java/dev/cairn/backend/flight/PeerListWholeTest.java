package dev.cairn.backend.flight;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.ObjectInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A listing is the union of the peers that answered, so that a restore after a peer's loss lists what the others
 * hold; a listing whole (garbage collection's) fails while a peer is silent: what only that peer holds, a MANIFEST
 * say, would be missing from it, and a sweep would take the step for abandoned.
 */
class PeerListWholeTest {

    @Test
    void aListingWholeFailsWhileAPeerIsSilentWhereAListingAnswersFromTheOthers() throws Exception {
        try (PeerGroup group = PeerGroup.start(3, b -> b.replicationFactor(0))) {
            group.peer(2).put("run/steps/3/MANIFEST", ByteBuffer.wrap(new byte[] {1, 2, 3}));
            group.peer(1).put("run/steps/3/index-1", ByteBuffer.wrap(new byte[] {4}));
            group.peer(0).put("run/chunks/ab", ByteBuffer.wrap(new byte[] {5}));

            List<String> every = List.of("run/steps/3/MANIFEST", "run/steps/3/index-1");
            assertEquals(every, keys(group.peer(0).listWhole("run/steps/")), "every peer answered");
            assertEquals(every, keys(group.peer(0).list("run/steps/")));

            group.kill(2);
            assertEquals(List.of("run/steps/3/index-1"), keys(group.peer(0).list("run/steps/")), "the others' union");
            IOException unsure = assertThrows(IOException.class, () -> group.peer(0).listWhole("run/steps/"));
            assertTrue(unsure.getMessage().contains("peer(s) [2] did not answer"), unsure.getMessage());
            assertThrows(IOException.class, () -> group.peer(1).listWhole("run/chunks/"),
                    "whatever the prefix: the silent peer might hold some of it");
        }
    }

    /**
     * A peer that started after this one tried to reach it (a run's peers start one by one) failed this peer's first
     * call: it is marked down for a while, and its connection is in backoff, where a call fails at once without
     * dialing. A listing whole, which must hear every peer (the look for a run's newest step whose listings found
     * nothing; garbage collection), asks it once more at once, and hears it.
     */
    @Test
    void aListingWholeHearsAPeerThatStartedAfterThisOneFailedToReachIt() throws Exception {
        int port;
        try (java.net.ServerSocket probe = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort(); // free now; nothing listens there until the late peer starts
        }
        try (PeerMemoryStore early = PeerMemoryStore.start(PeerGroup.defaults(0, 2).replicationFactor(0).build())) {
            java.net.InetSocketAddress late = new java.net.InetSocketAddress(early.address().getHostString(), port);
            early.connect(List.of(early.address(), late));
            assertEquals(List.of(), keys(early.list("run/")), "the late peer is not there yet: left out");
            try (PeerMemoryStore second = PeerMemoryStore.start(PeerGroup.defaults(1, 2).replicationFactor(0)
                    .listen(late.getHostString(), port).build())) {
                second.put("run/steps/1/MANIFEST", ByteBuffer.wrap(new byte[] {1}));
                assertEquals(List.of("run/steps/1/MANIFEST"), keys(early.listWhole("run/")));
            }
        }
    }

    private static List<String> keys(List<ObjectInfo> listing) {
        return listing.stream().map(ObjectInfo::key).toList();
    }
}
