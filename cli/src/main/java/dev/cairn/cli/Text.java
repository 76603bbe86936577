package dev.cairn.cli;

import dev.cairn.bench.ByteSize;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Locale;

/**
 * How the commands write sizes, ratios, ages and shapes for people, and how text from a store (names, codecs,
 * metadata, messages that quote them) is made safe for a terminal: every control character (C0, DEL, C1), the
 * Unicode bidirectional overrides, embeddings, isolates and marks, and the line and paragraph separators are written
 * as visible escapes ({@code \x1b} below U+0100, a backslash, u and four hex digits above), so a store cannot
 * retitle, clear or reorder a terminal.
 */
public final class Text {
    private Text() {
    }

    /** {@code s} on one line: every unsafe character escaped, line breaks included. */
    public static String printable(String s) {
        return escape(s, false);
    }

    /** {@code s} with every unsafe character escaped except tabs and line breaks ({@code \n}, {@code \r} before one). */
    public static String printableLines(String s) {
        return escape(s, true);
    }

    /** Whether a terminal could act on {@code c} instead of showing it. */
    public static boolean unsafe(char c) {
        return c < 0x20 || (c >= 0x7f && c <= 0x9f)
                || (c >= '\u202a' && c <= '\u202e') || (c >= '\u2066' && c <= '\u2069')
                || c == '\u200e' || c == '\u200f' || c == '\u061c' || c == '\u2028' || c == '\u2029';
    }

    private static String escape(String s, boolean keepLayout) {
        if (s == null) {
            return "null";
        }
        int first = 0;
        while (first < s.length() && !unsafe(s.charAt(first))) {
            first++;
        }
        if (first == s.length()) {
            return s;
        }
        StringBuilder b = new StringBuilder(s.length() + 16).append(s, 0, first);
        for (int i = first; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean layout = c == '\n' || c == '\t' || (c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n');
            if (!unsafe(c) || (keepLayout && layout)) {
                b.append(c);
            } else if (c <= 0xff) {
                b.append("\\x").append(Character.forDigit(c >> 4, 16)).append(Character.forDigit(c & 0xf, 16));
            } else {
                b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
            }
        }
        return b.toString();
    }

    public static String bytes(long n) {
        return ByteSize.format(n);
    }

    /** raw / stored, as {@code 1.08}; "-" when nothing is stored. */
    public static String ratio(long raw, long stored) {
        return stored <= 0 ? "-" : String.format(Locale.ROOT, "%.2f", raw / (double) stored);
    }

    /** {@code 42s}, {@code 17m}, {@code 5h}, {@code 3d} since {@code t}. */
    public static String age(Instant t, Instant now) {
        long s = Math.max(0, Duration.between(t, now).getSeconds());
        if (s < 120) {
            return s + "s";
        }
        if (s < 7200) {
            return s / 60 + "m";
        }
        if (s < 172_800) {
            return s / 3600 + "h";
        }
        return s / 86_400 + "d";
    }

    public static String shape(long[] shape) {
        return shape == null ? "-" : Arrays.toString(shape).replace(" ", "");
    }
}
