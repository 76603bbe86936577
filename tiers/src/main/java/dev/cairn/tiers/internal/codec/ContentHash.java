package dev.cairn.tiers.internal.codec;

import java.nio.ByteBuffer;
import java.util.Optional;

/**
 * The 128-bit content hashes chunks are keyed and verified by, as 32 lowercase hex digits. Not cryptographic: they
 * guard against corruption and identify content, and 128 bits keep accidental collisions out of reach at any
 * realistic number of chunks. A manifest names the one its chunks use (format 3 in its metadata; formats 1 and 2
 * always used MurmurHash3), and each chunk is verified with its manifest's hash.
 *
 * <p>Both write keys of the same shape ({@code chunks/<2 hex>/<32 hex>}) into one key space: the same bytes have
 * different keys under the two hashes, and a key of one equals a key of the other only by a 128-bit accident, as
 * unlikely as a collision within one hash. A save looks up only keys it computed with its own hash, so it never takes
 * a chunk of the other hash for its own.
 */
public enum ContentHash {
    /** MurmurHash3 x64 128 ({@link Murmur3Hash}): manifest formats 1 and 2. */
    MURMUR3_128("murmur3-128"),
    /** XXH3-128 ({@link Xxh3Hash}): manifest format 3, and every new save. */
    XXH3_128("xxh3-128");

    /** The hash new saves use. */
    public static final ContentHash CURRENT = XXH3_128;
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private final String tag;

    ContentHash(String tag) {
        this.tag = tag;
    }

    /** The name a manifest records (format 3's {@code cairn.hash}). */
    public String tag() {
        return tag;
    }

    /** The hash named {@code tag}, if this release knows it. */
    public static Optional<ContentHash> fromTag(String tag) {
        for (ContentHash h : values()) {
            if (h.tag.equals(tag)) {
                return Optional.of(h);
            }
        }
        return Optional.empty();
    }

    /** Both 64-bit halves of the hash of {@code length} bytes of {@code buf} from absolute index {@code offset}, hex order. */
    void hash(ByteBuffer buf, int offset, int length, long[] out) {
        if (this == XXH3_128) {
            Xxh3Hash.hash(buf, offset, length, out);
        } else {
            Murmur3Hash.hash(buf, offset, length, out);
        }
    }

    /** The hash of {@code length} bytes of {@code buf} from absolute index {@code offset}, as hex. Allocates; see {@link Hasher}. */
    public String hex(ByteBuffer buf, int offset, int length) {
        return hasher().hex(buf, offset, length);
    }

    /** The hash of a byte array, as hex. */
    public String hex(byte[] bytes) {
        return hex(ByteBuffer.wrap(bytes), 0, bytes.length);
    }

    /** A hasher with its own scratch, for one thread's many chunks. */
    public Hasher hasher() {
        return new Hasher(this);
    }

    /** Whether {@code s} looks like a content hash: 32 lowercase hex digits (both hashes look alike). */
    public static boolean isHex(String s) {
        if (s == null || s.length() != 32) {
            return false;
        }
        for (int i = 0; i < 32; i++) {
            char c = s.charAt(i);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                return false;
            }
        }
        return true;
    }

    /**
     * Hashes with one {@link ContentHash}, reusing its scratch: the only allocation is the hex string that
     * {@link #hex} returns, and {@link #matches} allocates nothing. One per thread.
     */
    public static final class Hasher {
        private final ContentHash hash;
        private final long[] halves = new long[2];

        private Hasher(ContentHash hash) {
            this.hash = hash;
        }

        public ContentHash contentHash() {
            return hash;
        }

        /** The hash of {@code length} bytes of {@code buf} from absolute index {@code offset}, as hex. */
        public String hex(ByteBuffer buf, int offset, int length) {
            hash.hash(buf, offset, length, halves);
            char[] out = new char[32];
            for (int i = 0; i < 16; i++) {
                out[15 - i] = HEX[(int) (halves[0] >>> (i * 4)) & 15];
                out[31 - i] = HEX[(int) (halves[1] >>> (i * 4)) & 15];
            }
            return new String(out);
        }

        /** Whether the hash of {@code length} bytes of {@code buf} from {@code offset} is {@code expected} (hex). */
        public boolean matches(ByteBuffer buf, int offset, int length, String expected) {
            if (expected.length() != 32) {
                return false;
            }
            hash.hash(buf, offset, length, halves);
            for (int i = 0; i < 16; i++) {
                if (expected.charAt(15 - i) != HEX[(int) (halves[0] >>> (i * 4)) & 15]
                        || expected.charAt(31 - i) != HEX[(int) (halves[1] >>> (i * 4)) & 15]) {
                    return false;
                }
            }
            return true;
        }
    }
}
