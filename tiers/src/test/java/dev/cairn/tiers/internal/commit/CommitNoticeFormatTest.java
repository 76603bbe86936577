package dev.cairn.tiers.internal.commit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.tiers.internal.manifest.IndexRef;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A commit notice names exactly the indexes of the ranks that look at it, and nothing else is taken for one. */
class CommitNoticeFormatTest {
    private static final int WORLD = 10;
    private static final int NOTICES = 3;

    private static List<IndexRef> refs() {
        List<IndexRef> refs = new ArrayList<>();
        for (int r = 0; r < WORLD; r++) {
            refs.add(IndexRef.of(r, ByteBuffer.wrap(("index of rank " + r).getBytes(StandardCharsets.UTF_8))));
        }
        return refs;
    }

    @Test
    void eachRankFindsItsOwnIndexInItsNoticeOnly() {
        List<IndexRef> refs = refs();
        String manifest = IndexRef.digestOf(ByteBuffer.wrap("MANIFEST".getBytes(StandardCharsets.UTF_8)));
        for (int k = 0; k < NOTICES; k++) {
            ByteBuffer body = ByteBuffer.wrap(CommitNotice.write(manifest, refs, k, NOTICES));
            assertTrue(body.remaining() <= CommitNotice.maxBytes(WORLD, NOTICES), "within the bound a look reads");
            for (IndexRef ref : refs) {
                assertEquals(ref.rank() % NOTICES == k, CommitNotice.names(body, ref.rank(), ref.digest()),
                        "rank " + ref.rank() + " in notice " + k);
                assertFalse(CommitNotice.names(body, ref.rank(), refs.get((ref.rank() + 1) % WORLD).digest()),
                        "another index's digest is not this rank's commit");
            }
        }
    }

    @Test
    void anEmptyOrAnotherFormatsBodyNamesNothingAndACutOneOnlyTheLinesItHoldsWhole() {
        List<IndexRef> refs = refs();
        byte[] whole = CommitNotice.write("0".repeat(64), refs, 1, NOTICES);
        IndexRef four = refs.get(4);
        assertTrue(CommitNotice.names(ByteBuffer.wrap(whole), 4, four.digest()));
        assertFalse(CommitNotice.names(ByteBuffer.allocate(0), 4, four.digest()), "an empty notice (an older release's)");
        String line = "\n4 " + four.digest() + "\n";
        for (int cut = 0; cut < whole.length; cut++) {
            // A body that does not end in a newline is cut short and names nothing; one cut at a line's end (which no
            // reader can tell from a whole one) names the whole lines it holds, each as rank 0 wrote it.
            String held = new String(whole, 0, cut, StandardCharsets.US_ASCII);
            assertEquals(held.endsWith("\n") && held.contains(line),
                    CommitNotice.names(ByteBuffer.wrap(whole, 0, cut), 4, four.digest()), "cut at " + cut);
        }
        String other = new String(whole, StandardCharsets.US_ASCII).replace("cairn-notice 1", "cairn-notice 2");
        assertFalse(CommitNotice.names(ByteBuffer.wrap(other.getBytes(StandardCharsets.US_ASCII)), 4, four.digest()));
    }
}
