package dev.cairn.tiers.internal.commit;

import dev.cairn.tiers.internal.manifest.IndexRef;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The body of a commit notice ({@code StoreLayout#noticeKey}): what the commit it announces committed, so that a rank
 * takes the notice for the commit of its own index without asking for the MANIFEST. Rank 0 writes notice k of K after
 * the MANIFEST's create; it names the MANIFEST's digest and, for each rank r that looks at it (r mod K = k), the
 * digest of the index of r that the MANIFEST commits ({@link IndexRef#digestOf}, as rank 0 read it).
 *
 * <pre>
 * cairn-notice 1\n                 magic and version
 * manifest &lt;64 hex&gt;\n            SHA-256 of the MANIFEST's bytes
 * &lt;rank&gt; &lt;64 hex&gt;\n              one line per rank that looks at this notice, by rank: SHA-256 of its index
 * </pre>
 *
 * A rank takes a notice only when its line names the digest of the very index bytes it put: a notice of another
 * attempt of the same step (other indexes), one without a body (written by a release before this format), or one it
 * cannot read is not taken, and the rank asks for the MANIFEST as before. US-ASCII text, so a person can read it.
 */
final class CommitNotice {
    static final String MAGIC = "cairn-notice";
    static final int VERSION = 1;
    private static final int DIGEST_HEX = 64;
    /** Bytes of the header lines: magic, version and the MANIFEST's digest. */
    private static final int HEADER_BYTES = MAGIC.length() + 3 + "manifest ".length() + DIGEST_HEX + 1;
    /** Bytes of one rank's line at most: a rank up to 10 digits, a space, the digest, a newline. */
    private static final int LINE_BYTES = 10 + 1 + DIGEST_HEX + 1;

    private CommitNotice() {
    }

    /**
     * The body of notice {@code k} of {@code count}: {@code manifestDigest} and the digests of {@code refs} (every
     * rank's index reference, by rank) of the ranks that look at it.
     */
    static byte[] write(String manifestDigest, List<IndexRef> refs, int k, int count) {
        StringBuilder b = new StringBuilder(HEADER_BYTES + LINE_BYTES * (refs.size() / Math.max(1, count) + 1));
        b.append(MAGIC).append(' ').append(VERSION).append('\n');
        b.append("manifest ").append(manifestDigest).append('\n');
        for (IndexRef ref : refs) {
            if (ref.rank() % count == k) {
                b.append(ref.rank()).append(' ').append(ref.digest()).append('\n');
            }
        }
        return b.toString().getBytes(StandardCharsets.US_ASCII);
    }

    /** The most bytes a notice for a world of {@code worldSize} ranks shared {@code count} ways can have. */
    static int maxBytes(int worldSize, int count) {
        return HEADER_BYTES + LINE_BYTES * ((worldSize + Math.max(1, count) - 1) / Math.max(1, count));
    }

    /**
     * Whether {@code body} is a notice of this format whose line for {@code rank} names {@code indexDigest}; false for
     * anything else (empty, another format, another digest, no line for the rank, cut short).
     */
    static boolean names(ByteBuffer body, int rank, String indexDigest) {
        String text = StandardCharsets.US_ASCII.decode(body.duplicate()).toString();
        String[] lines = text.split("\n", -1);
        if (lines.length < 3 || !lines[0].equals(MAGIC + " " + VERSION) || !lines[1].startsWith("manifest ")
                || !lines[lines.length - 1].isEmpty()) {
            return false; // a body cut short has no final newline
        }
        String own = rank + " " + indexDigest;
        for (int i = 2; i < lines.length - 1; i++) {
            if (lines[i].equals(own)) {
                return true;
            }
        }
        return false;
    }
}
