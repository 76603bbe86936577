package dev.cairn.backend.s3;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.cairn.ObjectKeys;
import java.io.IOException;

/**
 * The key grammar every Cairn store shares ({@link ObjectKeys}), and S3's own limit of 1024 UTF-8 bytes on a whole
 * key, prefix included.
 */
final class Keys {
    private static final int MAX_KEY_BYTES = 1024;

    private Keys() {
    }

    /** Throws unless {@code key} is a valid key under {@code prefix}. */
    static void check(String prefix, String key) throws IOException {
        ObjectKeys.check(key);
        if ((prefix + key).getBytes(UTF_8).length > MAX_KEY_BYTES) {
            throw ObjectKeys.invalid(key, "longer than S3's " + MAX_KEY_BYTES + " bytes with the prefix");
        }
    }
}
