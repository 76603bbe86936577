package dev.cairn.tiers.internal.commit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.tiers.internal.layout.StoreLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * Rank 0's listings of the indexes it still waits for: every missing rank's index is under one of them, they never
 * cost more pages than the listing of every index, and near the end of a large step they are a page each.
 */
class IndexListingTest {
    private static final StoreLayout LAYOUT = new StoreLayout("run");

    /** Ranks {@code from} to {@code world - 1}. */
    private static Set<Integer> from(int from, int world) {
        Set<Integer> out = new TreeSet<>();
        for (int r = from; r < world; r++) {
            out.add(r);
        }
        return out;
    }

    @Test
    void pagesCountEveryRankWhoseNameStartsWithThePrefix() {
        assertEquals(10, IndexListing.pages(10_000, ""));
        // rank-9: 9, 90-99, 900-999, 9000-9999
        assertEquals(2, IndexListing.pages(10_000, "9"));
        assertEquals(1, IndexListing.pages(10_000, "96"));
        assertEquals(1, IndexListing.pages(16, ""));
        assertEquals(2, IndexListing.pages(1_001, ""));
    }

    @Test
    void withEveryRankMissingTheWholeListingIsAsked() {
        assertEquals(List.of(""), IndexListing.prefixes(10_000, from(1, 10_000)));
        assertEquals(List.of(""), IndexListing.prefixes(16, from(1, 16)));
        assertEquals(List.of(), IndexListing.prefixes(16, Set.of()));
    }

    @Test
    void nearTheEndOfALargeStepOnlyThePrefixesOfTheMissingRanksAreListedAPageEach() {
        List<String> late = IndexListing.prefixes(10_000, from(9_600, 10_000));
        assertEquals(List.of("96", "97", "98", "99"), late);
        // Rank 9 alone, beside the last ranks: its own name, not every rank-9... key.
        Set<Integer> missing = from(9_990, 10_000);
        missing.add(9);
        List<String> prefixes = IndexListing.prefixes(10_000, missing);
        assertTrue(prefixes.contains("9.") || prefixes.contains("9"), prefixes.toString());
        for (String p : prefixes) {
            assertEquals(1, p.endsWith(".") ? 1 : IndexListing.pages(10_000, p), p);
        }
    }

    @Test
    void everyMissingIndexIsListedAndNoMorePagesThanTheWholeListingAreAsked() {
        Random random = new Random(15);
        for (int trial = 0; trial < 2_000; trial++) {
            int world = 2 + random.nextInt(trial % 3 == 0 ? 20_000 : 3_000);
            Set<Integer> missing = new TreeSet<>();
            if (random.nextBoolean()) {
                missing.addAll(from(1 + random.nextInt(world - 1), world)); // as ranks land in order
            }
            int scattered = random.nextInt(Math.min(world, 50));
            for (int i = 0; i < scattered; i++) {
                missing.add(1 + random.nextInt(world - 1));
            }
            List<String> prefixes = IndexListing.prefixes(world, missing);
            long pages = 0;
            List<String> keyPrefixes = new ArrayList<>();
            for (String p : prefixes) {
                pages += p.endsWith(".") ? 1 : IndexListing.pages(world, p);
                keyPrefixes.add(IndexListing.keyPrefix(LAYOUT, 7, p));
            }
            assertTrue(pages <= IndexListing.pages(world, ""), world + " " + missing + ": " + prefixes);
            for (int r : missing) {
                String key = LAYOUT.indexKey(7, r);
                assertTrue(keyPrefixes.stream().anyMatch(key::startsWith), "rank " + r + " of " + world + " under none of "
                        + prefixes);
            }
        }
    }
}
