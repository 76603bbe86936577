package dev.cairn.tiers.internal.manifest;

import dev.cairn.tiers.internal.layout.StoreLayout;

/**
 * A rank index as a format-4 MANIFEST commits it ({@link IndexedRows}): the exact bytes of
 * {@code <step>/rank-<r>.index}, bound by their length and SHA-256. An index replaced after the commit no longer
 * matches and is refused, instead of lending the step another save's chunk rows.
 *
 * @param rank   the rank whose rows the index holds
 * @param length its size in bytes
 * @param digest the SHA-256 of its bytes, 64 lower-case hex digits ({@link #DIGEST})
 */
public record IndexRef(int rank, long length, String digest) {
    /** The digest's name, in the MANIFEST's {@code codec} column of an index row. */
    public static final String DIGEST = "sha-256";

    public IndexRef {
        if (rank < 0 || length < 1 || length > ManifestFormat.MAX_BYTES || !isDigest(digest)) {
            throw new IllegalArgumentException("index of rank " + rank + ": length " + length + ", digest " + digest);
        }
    }

    /** The index's name within its step's folder ({@link StoreLayout#indexName}). */
    public String name() {
        return StoreLayout.indexName(rank);
    }

    static boolean isDigest(String s) {
        if (s == null || s.length() != 64) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                return false;
            }
        }
        return true;
    }

    /** The SHA-256 of {@code bytes} (from its position to its limit, which are left as they are), in hex. */
    public static String digestOf(java.nio.ByteBuffer bytes) {
        try {
            java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
            sha.update(bytes.duplicate());
            return java.util.HexFormat.of().formatHex(sha.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    /** {@code bytes} as the reference of rank {@code rank}'s index. */
    public static IndexRef of(int rank, java.nio.ByteBuffer bytes) {
        return new IndexRef(rank, bytes.remaining(), digestOf(bytes));
    }

    /** Why {@code bytes} are not the index this reference commits, or null when they are. */
    public String mismatch(java.nio.ByteBuffer bytes) {
        if (bytes.remaining() != length) {
            return "is " + bytes.remaining() + " bytes where the MANIFEST committed " + length;
        }
        String actual = digestOf(bytes);
        return actual.equals(digest) ? null : "has SHA-256 " + actual + " where the MANIFEST committed " + digest;
    }
}
