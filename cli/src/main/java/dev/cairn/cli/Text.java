package dev.cairn.cli;

import dev.cairn.bench.ByteSize;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Locale;

/** How the commands write sizes, ratios, ages and shapes for people. */
public final class Text {
    private Text() {
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
