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

    @Test
    void commitNoticesSpreadOverOnePrefixPer250RanksAndNameTheirStep() {
        assertEquals(0, StoreLayout.noticeCount(1));
        assertEquals(1, StoreLayout.noticeCount(2));
        assertEquals(1, StoreLayout.noticeCount(250));
        assertEquals(2, StoreLayout.noticeCount(251));
        assertEquals(40, StoreLayout.noticeCount(10_000));
        assertEquals("run/notices/0/7", layout.noticeKey(7, 250, 251));
        assertEquals("run/notices/1/7", layout.noticeKey(7, 251, 500));
        assertEquals(java.util.List.of("run/notices/0/7", "run/notices/1/7"), layout.noticeKeys(7, 251));
        assertEquals(java.util.OptionalLong.of(7), layout.stepOfNoticeKey("run/notices/3/7"));
        for (String key : new String[] {"run/notices/3/x", "run/notices/x/7", "run/notices/03/7", "run/notices/3/7/8",
                "run/notices/7", "other/notices/3/7", "run/steps/7/MANIFEST"}) {
            assertTrue(layout.stepOfNoticeKey(key).isEmpty(), key);
        }
        assertTrue(layout.stepOf("run/notices/3/7").isEmpty(), "a notice is no step's file");
    }
}
