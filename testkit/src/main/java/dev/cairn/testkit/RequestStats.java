package dev.cairn.testkit;

import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a {@link SimulatedObjectStore} was asked since it was built or last reset: an immutable snapshot.
 *
 * @param requests     requests of each kind, those answered with SlowDown included
 * @param slowDowns    requests of each kind answered with 503 SlowDown
 * @param prefixes     the same per rate-limited prefix, sorted by prefix
 * @param hottestKeys  the keys with the highest request rate in any one simulated second, highest first (at most
 *                     {@link #HOTTEST_KEYS})
 * @param bytesWritten bytes of the PUTs and create-only PUTs that were served
 * @param bytesRead    bytes returned by the GETs that were served
 */
public record RequestStats(Map<RequestKind, Long> requests, Map<RequestKind, Long> slowDowns,
                           Map<String, PrefixStats> prefixes, List<KeyRate> hottestKeys, long bytesWritten,
                           long bytesRead) {

    /** How many of the hottest keys a snapshot names. */
    public static final int HOTTEST_KEYS = 10;

    /** Copies every collection; maps keep their order (kinds in declaration order, prefixes sorted). */
    public RequestStats {
        requests = byKind(requests);
        slowDowns = byKind(slowDowns);
        prefixes = Collections.unmodifiableMap(new TreeMap<>(prefixes));
        hottestKeys = List.copyOf(hottestKeys);
    }

    /** Requests of {@code kind}. */
    public long requests(RequestKind kind) {
        return requests.getOrDefault(kind, 0L);
    }

    /** Requests of {@code kind} answered with SlowDown. */
    public long slowDowns(RequestKind kind) {
        return slowDowns.getOrDefault(kind, 0L);
    }

    /** Requests of every kind. */
    public long totalRequests() {
        return requests.values().stream().mapToLong(Long::longValue).sum();
    }

    /** SlowDown answers of every kind. */
    public long totalSlowDowns() {
        return slowDowns.values().stream().mapToLong(Long::longValue).sum();
    }

    /** The requests to one rate-limited prefix. */
    public PrefixStats prefix(String prefix) {
        return prefixes.getOrDefault(prefix, PrefixStats.NONE);
    }

    /** An unmodifiable copy in declaration order of the kinds (an EnumMap's copy constructor refuses an empty map). */
    private static Map<RequestKind, Long> byKind(Map<RequestKind, Long> counts) {
        EnumMap<RequestKind, Long> copy = new EnumMap<>(RequestKind.class);
        copy.putAll(counts);
        return Collections.unmodifiableMap(copy);
    }

    /**
     * Requests to one prefix.
     *
     * @param requests             requests of each kind, SlowDowns included
     * @param slowDowns            requests answered with SlowDown
     * @param peakWritesPerSecond  most PUT/DELETE-class requests asked of it in one simulated second, SlowDowns
     *                             included: the demand, which may exceed what S3 serves
     * @param peakReadsPerSecond   the same for GET/HEAD-class requests (LIST pages among them)
     */
    public record PrefixStats(Map<RequestKind, Long> requests, long slowDowns, int peakWritesPerSecond,
                              int peakReadsPerSecond) {
        static final PrefixStats NONE = new PrefixStats(Map.of(), 0, 0, 0);

        public PrefixStats {
            requests = byKind(requests);
        }

        /** Requests of {@code kind}. */
        public long requests(RequestKind kind) {
            return requests.getOrDefault(kind, 0L);
        }
    }

    /**
     * One key's busiest simulated second.
     *
     * @param key           the object key
     * @param peakPerSecond requests of any kind (LIST aside) that named it in that second, SlowDowns included
     * @param second        the first simulated second with that many (seconds since the clock's 0)
     */
    public record KeyRate(String key, int peakPerSecond, long second) {
    }
}
