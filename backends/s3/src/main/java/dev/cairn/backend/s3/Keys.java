package dev.cairn.backend.s3;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.IOException;

/**
 * The key grammar every Cairn store shares ('/'-separated non-empty segments, none "." or "..", no backslash, no
 * control characters), and S3's own limit of 1024 UTF-8 bytes on a whole key, prefix included.
 */
final class Keys {
    private static final int MAX_KEY_BYTES = 1024;

    private Keys() {
    }

    /** Throws unless {@code key} is a valid key under {@code prefix}. */
    static void check(String prefix, String key) throws IOException {
        String problem = key == null ? "null" : problem(key);
        if (problem == null && (prefix + key).getBytes(UTF_8).length > MAX_KEY_BYTES) {
            problem = "longer than S3's " + MAX_KEY_BYTES + " bytes with the prefix";
        }
        if (problem != null) {
            throw new IOException("invalid key '" + printable(String.valueOf(key)) + "': " + problem);
        }
    }

    /** What is wrong with {@code key}, or null if nothing is. */
    static String problem(String key) {
        if (key.isEmpty()) {
            return "empty";
        }
        int segmentStart = 0;
        for (int i = 0; i <= key.length(); i++) {
            char c = i < key.length() ? key.charAt(i) : '/';
            if (c == '/') {
                int length = i - segmentStart;
                if (length == 0 || (length <= 2 && key.startsWith(length == 1 ? "." : "..", segmentStart))) {
                    return "empty, '.' or '..' segment";
                }
                segmentStart = i + 1;
            } else if (c == '\\' || Character.isISOControl(c)) {
                return "backslash or control character";
            }
        }
        return null;
    }

    /** {@code key} with control characters escaped, for messages. */
    static String printable(String key) {
        StringBuilder out = new StringBuilder(key.length());
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            if (Character.isISOControl(c)) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
