package dev.cairn;

import java.io.IOException;

/**
 * The key grammar every {@link ObjectStore} shares, so that an object can move between tiers under the same key:
 * '/'-separated non-empty segments, none of them "." or "..", no backslash and no control characters. Stores add
 * their own limits on top (a reserved prefix, a maximum length).
 */
public final class ObjectKeys {
    private ObjectKeys() {
    }

    /** What is wrong with {@code key}, or null when it is a valid key. */
    public static String problem(String key) {
        if (key == null || key.isEmpty()) {
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

    /** Throws an IOException naming {@code key} (printably) unless it is valid. */
    public static void check(String key) throws IOException {
        String problem = problem(key);
        if (problem != null) {
            throw invalid(key, problem);
        }
    }

    /** The exception every store throws for a key it refuses. */
    public static IOException invalid(String key, String problem) {
        return new IOException("invalid key '" + printable(String.valueOf(key)) + "': " + problem);
    }

    /** {@code key} with control characters escaped, for messages. */
    public static String printable(String key) {
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
