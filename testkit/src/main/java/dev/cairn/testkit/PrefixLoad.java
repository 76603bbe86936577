package dev.cairn.testkit;

import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;

/**
 * The requests one rate-limited prefix of a {@link SimulatedObjectStore} received, second by simulated second.
 * Callers may arrive out of simulated order (a driver plays many callers one after another on one thread), so every
 * second keeps its own counts instead of a window that only moves forward.
 */
final class PrefixLoad {
    private static final int SERVED_WRITES = 0;
    private static final int SERVED_READS = 1;
    private static final int ASKED_WRITES = 2;
    private static final int ASKED_READS = 3;

    private final long[] requests = new long[RequestKind.values().length];
    private final Map<Long, int[]> seconds = new HashMap<>();
    private long slowDowns;
    private int peakWrites;
    private int peakReads;

    /**
     * Counts one request of {@code kind} in {@code second} and says whether it is served: false when the prefix has
     * already served {@code limit} requests of the kind's rate class in that second.
     */
    synchronized boolean admit(RequestKind kind, long second, int limit) {
        requests[kind.ordinal()]++;
        int[] counts = seconds.computeIfAbsent(second, s -> new int[4]);
        boolean write = kind.isWrite();
        int asked = ++counts[write ? ASKED_WRITES : ASKED_READS];
        if (write) {
            peakWrites = Math.max(peakWrites, asked);
        } else {
            peakReads = Math.max(peakReads, asked);
        }
        int served = write ? SERVED_WRITES : SERVED_READS;
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
}
