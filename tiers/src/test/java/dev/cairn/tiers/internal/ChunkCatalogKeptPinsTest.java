package dev.cairn.tiers.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Pins a multi-rank commit keeps for its step ({@link ChunkCatalog#keepPinnedUntil}) protect the step's chunks from
 * this process's collections until its committer lets them go, after the tier's retention holds the step; only that
 * step's, once.
 */
class ChunkCatalogKeptPinsTest {
    private final ChunkCatalog catalog = new ChunkCatalog();
    private final List<String> deleted = new ArrayList<>();

    private List<String> collect(String... hashes) throws IOException {
        for (String h : hashes) {
            catalog.markPresent(h, 10);
        }
        return catalog.deleteUnlessPinned(List.of(hashes), h -> false, deleted::addAll, 1, 0);
    }

    @Test
    void keptPinsHoldUntilTheirStepIsReleased() throws IOException {
        catalog.pin("x");
        catalog.pin("y");
        catalog.keepPinnedUntil(7, List.of("x", "y"));
        catalog.pin("z");
        catalog.keepPinnedUntil(8, List.of("z"));
        assertEquals(List.of(), collect("x", "y", "z"), "kept: nothing deleted");
        catalog.releaseKept(7);
        assertEquals(List.of("x", "y"), collect("x", "y", "z"), "step 7's go, step 8's stay");
        catalog.releaseKept(7); // once only: no pin of another holder is taken
        assertEquals(List.of(), collect("z"));
        catalog.releaseKept(8);
        assertEquals(List.of("z"), collect("z"));
    }

    @Test
    void aKeptPinAddsToTheOthersOnTheSameChunk() throws IOException {
        catalog.pin("x"); // a save in flight
        catalog.pin("x"); // the commit's
        catalog.keepPinnedUntil(3, List.of("x"));
        catalog.releaseKept(3);
        assertEquals(List.of(), collect("x"), "the save's pin remains");
        catalog.unpin("x");
        assertEquals(List.of("x"), collect("x"));
    }
}
