package dev.cairn.tiers.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The deletions a catalog remembers for multi-rank commits ({@link ChunkCatalog#pinNamed}): each is kept until a
 * collection's horizon passes the time it was recorded, however many came after it.
 */
class ChunkCatalogDeletionsTest {
    private final ChunkCatalog catalog = new ChunkCatalog();
    private final List<String> deletedFromStore = new ArrayList<>();

    private void delete(String hash, long nowMillis, long forgetBeforeMillis) throws IOException {
        catalog.markPresent(hash, 10);
        catalog.deleteUnlessPinned(List.of(hash), h -> false, deletedFromStore::addAll, nowMillis, forgetBeforeMillis);
    }

    @Test
    void forgetsExactlyTheDeletionsRecordedBeforeTheHorizon() throws IOException {
        for (int t = 1; t <= 5; t++) {
            delete("h" + t, t, 0);
        }
        delete("h6", 6, 3); // forgets those of times 1 and 2
        assertEquals(List.of("h1", "h2", "h3", "h4", "h5", "h6"), deletedFromStore);
        assertEquals(List.of("h3", "h4", "h5", "h6"), catalog.pinNamed(List.of("h1", "h2", "h3", "h4", "h5", "h6")));
    }

    @Test
    void aChunkDeletedAgainIsRememberedFromItsLastDeletion() throws IOException {
        delete("a", 1, 0);
        delete("b", 2, 0);
        delete("a", 5, 0); // written and deleted again: its time is now 5
        delete("c", 6, 4); // forgets b (2), not a (5)
        assertEquals(List.of("a", "c"), catalog.pinNamed(List.of("a", "b", "c")));
    }

    @Test
    void aHorizonBeforeEveryDeletionForgetsNone() throws IOException {
        for (int t = 10; t < 20; t++) {
            delete("h" + t, t, 0);
        }
        delete("last", 20, 10);
        assertEquals(11, catalog.pinNamed(deletedFromStore).size());
    }
}
