package dev.cairn.backend.flight;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code statAll} leaves a key out only when every peer said it does not hold it: a commit fails its step on a key
 * left out, and a replacement rank's chunks live only in its own memory until replicated. A peer that did not answer
 * makes the answer "cannot tell" (an IOException), which the commit asks again until its deadline.
 */
class PeerStatAllTest {

    @Test
    void aKeyHeldOnlyByAPeerThatDoesNotAnswerIsNeitherFoundNorReportedAbsent() throws Exception {
        try (PeerGroup group = PeerGroup.start(3, b -> b.replicationFactor(0))) {
            group.peer(2).put("chunks/only-on-2", ByteBuffer.wrap(new byte[] {1, 2, 3}));
            group.peer(1).put("chunks/only-on-1", ByteBuffer.wrap(new byte[] {4}));

            var held = group.peer(0).statAll(List.of("chunks/only-on-2", "chunks/only-on-1", "chunks/nowhere"));
            assertEquals(3, held.get("chunks/only-on-2").size());
            assertEquals(1, held.get("chunks/only-on-1").size());
            assertEquals(2, held.size(), "every peer answered: a key none holds is left out: " + held);

            group.kill(2);
            IOException unsure = assertThrows(IOException.class,
                    () -> group.peer(0).statAll(List.of("chunks/only-on-2", "chunks/only-on-1")));
            assertTrue(unsure.getMessage().contains("peer(s) [2] did not answer"), unsure.getMessage());

            // What the answering peers hold is still an answer: nothing is left to tell.
            assertEquals(1, group.peer(0).statAll(List.of("chunks/only-on-1")).size());
        }
    }
}
