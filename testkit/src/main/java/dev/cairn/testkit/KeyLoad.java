package dev.cairn.testkit;

import java.util.Arrays;

/**
 * One key's requests per simulated second, small enough to keep for a million keys: the seconds it was asked in,
 * sorted, each packed with its count into one long ({@code second << 24 | count}); most keys (a chunk: one PUT, a
 * HEAD or two) need one or two entries. Callers arrive out of simulated order, so any second may be counted at any
 * time. A count saturates at 2^24 - 1 per second.
 * Holds its key, so that the store's object map can share that string instead of a copy per caller.
 */
final class KeyLoad {
    private static final int COUNT_BITS = 24;
    private static final long COUNT_MASK = (1L << COUNT_BITS) - 1;

    private final String key;
    private long[] packed = new long[1];
    private int size;
    private int peak;
    private long peakSecond;

    KeyLoad(String key) {
        this.key = key;
    }

    /** The key, one instance for every request that named it, so that a stored object need not hold another. */
    String key() {
        return key;
    }

    synchronized void count(long second) {
        int at = find(second);
        int count;
        if (at >= 0) {
            count = (int) Math.min(COUNT_MASK, (packed[at] & COUNT_MASK) + 1);
            packed[at] = (second << COUNT_BITS) | count;
        } else {
            insert(-at - 1, second);
            count = 1;
        }
        if (count > peak || (count == peak && second < peakSecond)) {
            peak = count;
            peakSecond = second;
        }
    }

    synchronized int peak() {
        return peak;
    }

    synchronized long peakSecond() {
        return peakSecond;
    }

    /** Index of {@code second}, or {@code -(insertion point) - 1}, as {@link Arrays#binarySearch} answers. */
    private int find(long second) {
        int low = 0;
        int high = size - 1;
        while (low <= high) {
            int mid = (low + high) >>> 1;
            long s = packed[mid] >>> COUNT_BITS;
            if (s < second) {
                low = mid + 1;
            } else if (s > second) {
                high = mid - 1;
            } else {
                return mid;
            }
        }
        return -low - 1;
    }

    private void insert(int at, long second) {
        if (size == packed.length) {
            packed = Arrays.copyOf(packed, size * 2);
        }
        System.arraycopy(packed, at, packed, at + 1, size - at);
        packed[at] = (second << COUNT_BITS) | 1;
        size++;
    }
}
