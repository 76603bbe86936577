package dev.cairn.tiers.internal.layout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

/** The key grammar of a run lives here: what {@link StoreLayout} writes is exactly what it recognizes. */
class StoreLayoutTest {
    private final StoreLayout layout = new StoreLayout("run");

    @Test
    void anIndexKeyNamesItsRankAndNothingElseIsOne() {
        assertEquals(OptionalInt.of(0), layout.rankOfIndexKey(layout.indexKey(7, 0)));
        assertEquals(OptionalInt.of(12), layout.rankOfIndexKey(layout.indexKey(7, 12)));
        assertTrue(layout.isIndexKey(layout.indexKey(0, 3)));
        for (String key : new String[] {"run/steps/7/MANIFEST", "run/steps/7/rank-x.index", "run/steps/7/rank--1.index",
                "run/steps/7/rank-01.index", "run/steps/7/rank-1.index.tmp", "run/steps/7/other.index",
                "run/steps/7/sub/rank-1.index", "other/steps/7/rank-1.index", "run/steps/x/rank-1.index",
                "run/steps/07/rank-1.index", "run/chunks/ab/rank-1.index", "rank-1.index"}) {
            assertFalse(layout.isIndexKey(key), key);
        }
        assertEquals(OptionalInt.of(3), StoreLayout.rankOfIndexName("anywhere/rank-3.index"));
        assertEquals(OptionalInt.empty(), StoreLayout.rankOfIndexName("anywhere/MANIFEST"));
    }
}
