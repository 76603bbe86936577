package dev.cairn.backend.memory;

import java.io.IOException;

/**
 * The key grammar every Cairn store shares, so that an object can move between tiers under the same key:
 * '/'-separated non-empty segments, none of them "." or "..", no backslash and no control characters.
 */
final class KeyRules {
    private KeyRules() {
    }

    static void check(String key) throws IOException {
        if (key == null || key.isEmpty()) {
            throw new IOException("invalid key: empty");
        }
        int segmentStart = 0;
        for (int i = 0; i <= key.length(); i++) {
            char c = i < key.length() ? key.charAt(i) : '/';
            if (c == '/') {
                String segment = key.substring(segmentStart, i);
                if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
                    throw new IOException("invalid key '" + printable(key) + "': empty, '.' or '..' segment");
                }
                segmentStart = i + 1;
            } else if (c == '\\' || Character.isISOControl(c)) {
                throw new IOException("invalid key '" + printable(key) + "': backslash or control character");
            }
        }
    }

    private static String printable(String key) {
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
