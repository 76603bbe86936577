package dev.cairn.backend.s3;

import dev.cairn.UnusableObjectException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Locale;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * The integrity record the store writes with every object, as two user-metadata headers, and the checks of what comes
 * back against it. S3 returns an object's user metadata with every GET, ranged or not, and every HEAD; it returns no
 * checksum for an arbitrary byte range (and the checksum it keeps for a multipart object is one of its parts'
 * checksums), so the SDK cannot check a ranged read and plain HTTP carries no checksum of its own.
 *
 * <pre>
 *   x-amz-meta-cairn-length: 2850         the object's size in bytes, decimal
 *   x-amz-meta-cairn-crc32c: 1a2b3c4d     CRC32C (Castagnoli) of the whole object, 8 lowercase hex digits
 * </pre>
 *
 * A read whose answer holds the whole object is checked against both; any other answer's object size is checked
 * against the length, and so is the size a HEAD reports. An object without the record (written by another tool) is
 * read unchecked; an answer with half of it (a header's name garbled, which would otherwise leave a garbled body
 * unchecked) is refused. A mismatch is an {@link IOException}, which the store retries like any failed transfer.
 */
final class ObjectCheck {
    /** User-metadata key of the object's size (the SDK adds and removes the {@code x-amz-meta-} prefix). */
    static final String LENGTH = "cairn-length";
    /** User-metadata key of the object's CRC32C. */
    static final String CRC32C = "cairn-crc32c";

    private ObjectCheck() {
    }

    /** The record of {@code body}'s remaining bytes (its position untouched). */
    static Map<String, String> of(ByteBuffer body) {
        CRC32C crc = new CRC32C();
        crc.update(body.duplicate());
        return Map.of(LENGTH, Long.toString(body.remaining()), CRC32C, hex(crc.getValue()));
    }

    /** Whether {@code metadata} carries exactly the record {@code record} ({@link #of}) names. */
    static boolean sameRecord(Map<String, String> metadata, Map<String, String> record) {
        for (Map.Entry<String, String> e : record.entrySet()) {
            if (!e.getValue().equals(find(metadata, e.getKey()))) {
                return false;
            }
        }
        return true;
    }

    /** Fails when the record in {@code metadata} names another size than {@code size}, or is half there. */
    static void checkSize(Map<String, String> metadata, long size, String what) throws IOException {
        String recorded = find(metadata, LENGTH);
        if ((recorded == null) != (find(metadata, CRC32C) == null)) {
            throw new UnusableObjectException(what + ": the answer carries half of the object's record (corrupted in transit)");
        }
        if (recorded != null && !recorded.equals(Long.toString(size))) {
            throw new UnusableObjectException(what + ": the object's record says " + recorded + " bytes, the answer " + size
                    + " (corrupted in transit)");
        }
    }

    /** Fails when {@code whole}, the bytes of a whole object, do not match the record in {@code metadata}. */
    static void checkWhole(Map<String, String> metadata, ByteBuffer whole, String what) throws IOException {
        checkSize(metadata, whole.remaining(), what);
        String recorded = find(metadata, CRC32C);
        if (recorded == null) {
            return;
        }
        CRC32C crc = new CRC32C();
        crc.update(whole.duplicate());
        String actual = hex(crc.getValue());
        if (!recorded.equals(actual)) {
            throw new UnusableObjectException(what + ": CRC32C of the " + whole.remaining() + " bytes received is " + actual
                    + ", the object's record says " + recorded + " (corrupted in transit; at rest where every read finds it)");
        }
    }

    private static String find(Map<String, String> metadata, String key) {
        if (metadata == null) {
            return null;
        }
        String value = metadata.get(key);
        if (value != null) {
            return value;
        }
        for (Map.Entry<String, String> e : metadata.entrySet()) {
            if (e.getKey().toLowerCase(Locale.ROOT).equals(key)) {
                return e.getValue();
            }
        }
        return null;
    }

    private static String hex(long crc) {
        return String.format(Locale.ROOT, "%08x", crc);
    }
}
