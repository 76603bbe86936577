package dev.cairn.bench;

import java.util.Locale;

/** Byte counts as people type and read them: {@code 1g}, {@code 512m}, {@code 64MiB}; binary units throughout. */
public final class ByteSize {
    private static final String UNITS = "kmgt";

    private ByteSize() {
    }

    /**
     * Parses a whole number with an optional binary unit ({@code k}, {@code m}, {@code g}, {@code t}, optionally
     * followed by {@code b} or {@code ib}, any case).
     *
     * @throws IllegalArgumentException naming the text when it is not such a size or does not fit in a long
     */
    public static long parse(String text) {
        if (text == null) {
            throw new IllegalArgumentException("no size given");
        }
        String s = text.strip().toLowerCase(Locale.ROOT);
        if (s.endsWith("ib")) {
            s = s.substring(0, s.length() - 2);
        } else if (s.endsWith("b")) {
            s = s.substring(0, s.length() - 1);
        }
        int shift = 0;
        if (!s.isEmpty()) {
            int unit = UNITS.indexOf(s.charAt(s.length() - 1));
            if (unit >= 0) {
                shift = 10 * (unit + 1);
                s = s.substring(0, s.length() - 1);
            }
        }
        long number;
        try {
            number = Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text + "' is not a size: use a whole number with an optional unit,"
                    + " such as 1g, 512m or 1073741824");
        }
        if (number < 0 || (shift > 0 && number > (Long.MAX_VALUE >> shift))) {
            throw new IllegalArgumentException("size '" + text + "' is negative or too large");
        }
        return number << shift;
    }

    /** {@code 1.00 GiB}, {@code 256 MiB}, {@code 512 B}: three significant digits at most. */
    public static String format(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        int unit = Math.min((63 - Long.numberOfLeadingZeros(bytes)) / 10, UNITS.length());
        double value = bytes / (double) (1L << (10 * unit));
        String suffix = Character.toUpperCase(UNITS.charAt(unit - 1)) + "iB";
        if (value == Math.rint(value)) {
            return String.format(Locale.ROOT, "%d %s", (long) value, suffix);
        }
        return String.format(Locale.ROOT, value < 10 ? "%.2f %s" : value < 100 ? "%.1f %s" : "%.0f %s", value, suffix);
    }

    /** A rate in bytes per second, as {@code 1.23 GB/s} (decimal: the unit disks and links are sold in). */
    public static String rate(double bytesPerSecond) {
        if (bytesPerSecond >= 1e9) {
            return String.format(Locale.ROOT, "%.2f GB/s", bytesPerSecond / 1e9);
        }
        return String.format(Locale.ROOT, "%.0f MB/s", bytesPerSecond / 1e6);
    }
}
