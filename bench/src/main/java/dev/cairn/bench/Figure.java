package dev.cairn.bench;

import java.util.Arrays;
import java.util.List;

/**
 * One measured quantity: every repetition's time for moving {@code bytes}.
 *
 * @param key   stable name, used in JSON
 * @param label what was timed, in words
 * @param bytes bytes of state each repetition moved (raw, uncompressed bytes for the engine's figures); 0 where
 *              no bytes move in the time measured, so no rate applies (the ZERO_COPY stall)
 * @param nanos each repetition's time, in the order taken
 */
public record Figure(String key, String label, long bytes, long[] nanos) {
    public Figure {
        if (nanos.length == 0) {
            throw new IllegalArgumentException("figure " + key + " has no sample");
        }
        nanos = nanos.clone();
    }

    @Override
    public long[] nanos() {
        return nanos.clone();
    }

    /** The median (the mean of the middle two for an even count). */
    public long medianNanos() {
        long[] s = sorted();
        int m = s.length / 2;
        return s.length % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2;
    }

    public long minNanos() {
        return sorted()[0];
    }

    public long maxNanos() {
        return sorted()[nanos.length - 1];
    }

    /** Bytes per second at the median time; NaN when no rate applies. */
    public double bytesPerSecond() {
        return bytes == 0 ? Double.NaN : bytes * 1e9 / Math.max(1, medianNanos());
    }

    /** The figure with {@code key} in {@code figures}. */
    static Figure find(List<Figure> figures, String key) {
        return figures.stream().filter(f -> f.key().equals(key)).findFirst().orElseThrow();
    }

    private long[] sorted() {
        long[] s = nanos.clone();
        Arrays.sort(s);
        return s;
    }
}
