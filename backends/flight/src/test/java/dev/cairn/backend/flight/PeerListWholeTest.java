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

    private static List<String> keys(List<ObjectInfo> listing) {
        return listing.stream().map(ObjectInfo::key).toList();
    }
}
