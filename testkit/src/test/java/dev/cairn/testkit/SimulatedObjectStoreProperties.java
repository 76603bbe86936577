package dev.cairn.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.ObjectInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.From;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

class SimulatedObjectStoreProperties {

    /**
     * Listings find keys through a per-folder index, not a sorted map of keys: whatever was put and deleted, and
     * wherever a prefix ends (at a '/', inside a name, before a '-' that sorts below '/'), a listing is exactly the
     * keys that start with it, sorted.
     */
    @Property(tries = 300)
    void aListingIsEveryKeyThatStartsWithThePrefixSorted(
            @ForAll @Size(max = 40) List<@From("keys") String> puts,
            @ForAll @Size(max = 10) List<@From("keys") String> deletes,
            @ForAll @Size(min = 1, max = 8) List<@From("prefixes") String> prefixes)
            throws IOException {
        try (SimulatedObjectStore store = SimulatedObjectStore.builder()
                .latency(SimulatedObjectStore.Latency.NONE).requestRates(1_000_000, 1_000_000).build()) {
            TreeSet<String> expected = new TreeSet<>();
            for (String key : puts) {
                store.put(key, ByteBuffer.allocate(1));
                expected.add(key);
            }
            for (String key : deletes) {
                store.delete(key);
                expected.remove(key);
            }
            for (String prefix : prefixes) {
                List<String> listed = store.list(prefix).stream().map(ObjectInfo::key).toList();
                assertEquals(expected.stream().filter(k -> k.startsWith(prefix)).toList(), listed, "prefix " + prefix);
            }
        }
    }

    /**
     * A prefix serves at most its rate in each simulated second and refuses the rest, in whatever order the
     * requests of different seconds arrive; a key's peak is its busiest second's count.
     */
    @Property(tries = 200)
    void eachSecondServesUpToItsRateWhateverTheOrderOfArrival(
            @ForAll @Size(min = 1, max = 6) List<@IntRange(max = 12) Integer> asked, @ForAll long shuffleSeed)
            throws IOException {
        int rate = 5;
        List<Long> seconds = new ArrayList<>();
        for (int s = 0; s < asked.size(); s++) {
            seconds.addAll(Collections.nCopies(asked.get(s), (long) s));
        }
        Collections.shuffle(seconds, new Random(shuffleSeed));
        try (SimulatedObjectStore store = SimulatedObjectStore.builder()
                .latency(SimulatedObjectStore.Latency.NONE).requestRates(rate, rate).build()) {
            Map<Long, Integer> served = new HashMap<>();
            for (long second : seconds) {
                store.clock().setNow(second * 1_000_000_000L + 17);
                try {
                    store.stat("p/k");
                } catch (java.nio.file.NoSuchFileException servedButAbsent) {
                    served.merge(second, 1, Integer::sum);
                } catch (FaultyObjectStore.ThrottledException refused) {
                    // counted below
                }
            }
            long refused = 0;
            for (int s = 0; s < asked.size(); s++) {
                assertEquals(Math.min(rate, asked.get(s)), served.getOrDefault((long) s, 0), "second " + s);
                refused += Math.max(0, asked.get(s) - rate);
            }
            assertEquals(refused, store.stats().totalSlowDowns());
            int peak = asked.stream().mapToInt(Integer::intValue).max().orElse(0);
            assertEquals(peak, store.peakRate("p/k"));
            assertEquals(peak, store.stats().prefix("p/").peakReadsPerSecond());
        }
    }

    @Provide
    Arbitrary<String> keys() {
        Arbitrary<String> segment = Arbitraries.of("a", "b", "ab", "a-b", "a0", "b.c", "z");
        return segment.list().ofMinSize(1).ofMaxSize(4).map(segments -> String.join("/", segments));
    }

    @Provide
    Arbitrary<String> prefixes() {
        return keys().flatMap(key -> Arbitraries.integers().between(0, key.length()).map(end -> key.substring(0, end)));
    }
}
