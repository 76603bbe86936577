package dev.cairn.testkit;

import java.util.Arrays;
import java.util.EnumMap;
import java.util.Map;

/**
 * The requests one rate-limited prefix of a {@link SimulatedObjectStore} received, second by simulated second.
 * Callers may arrive out of simulated order (a driver plays many callers one after another on one thread), so every
 * second keeps its own counts instead of a window that only moves forward: sorted seconds beside four counts each
 * (served and asked, writes and reads), 24 bytes a second, appended at the end while time runs forward.
 */
final class PrefixLoad {
    private static final int SERVED_WRITES = 0;
    private static final int SERVED_READS = 1;
    private static final int ASKED_WRITES = 2;
    private static final int ASKED_READS = 3;
    private static final int COUNTS = 4;

    private final long[] requests = new long[RequestKind.values().length];
    private long[] seconds = new long[4];
    private int[] counts = new int[4 * COUNTS];
    private int size;
    private long slowDowns;
    private int peakWrites;
    private int peakReads;

    /**
     * Counts one request of {@code kind} in {@code second} and says whether it is served: false when the prefix has
     * already served {@code limit} requests of the kind's rate class in that second.
     */
    synchronized boolean admit(RequestKind kind, long second, int limit) {
        requests[kind.ordinal()]++;
        int base = COUNTS * indexOf(second);
        boolean write = kind.isWrite();
        int asked = ++counts[base + (write ? ASKED_WRITES : ASKED_READS)];
        if (write) {
            peakWrites = Math.max(peakWrites, asked);
        } else {
            peakReads = Math.max(peakReads, asked);
        }
        int served = base + (write ? SERVED_WRITES : SERVED_READS);
        if (counts[served] >= limit) {
            slowDowns++;
            return false;
        }
        counts[served]++;
        return true;
    }

    synchronized RequestStats.PrefixStats snapshot() {
        Map<RequestKind, Long> byKind = new EnumMap<>(RequestKind.class);
        for (RequestKind kind : RequestKind.values()) {
            if (requests[kind.ordinal()] > 0) {
                byKind.put(kind, requests[kind.ordinal()]);
            }
        }
        return new RequestStats.PrefixStats(byKind, slowDowns, peakWrites, peakReads);
    }

    /** The slot of {@code second}, made (with zero counts) if it has none yet. */
    private int indexOf(long second) {
        if (size > 0 && seconds[size - 1] == second) {
            return size - 1; // the usual case: the newest second again
        }
        int at = Arrays.binarySearch(seconds, 0, size, second);
        if (at >= 0) {
            return at;
        }
        at = -at - 1;
        if (size == seconds.length) {
            seconds = Arrays.copyOf(seconds, size * 2);
            counts = Arrays.copyOf(counts, size * 2 * COUNTS);
        }
        System.arraycopy(seconds, at, seconds, at + 1, size - at);
        System.arraycopy(counts, at * COUNTS, counts, (at + 1) * COUNTS, (size - at) * COUNTS);
        Arrays.fill(counts, at * COUNTS, (at + 1) * COUNTS, 0);
        seconds[at] = second;
        size++;
        return at;
    }
}
