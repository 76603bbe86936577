package dev.cairn.tiers.internal.commit;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.DType;
import dev.cairn.ShardSpec;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;

/**
 * {@link SliceAgreement} at the scale it is priced for: 10,000 ranks cutting one tensor 10,000 ways (rows, columns, a
 * 100 x 100 grid), or all holding it whole, each timed (printed: rank 0 runs it in the commit, between the last index
 * and the MANIFEST); and a gap, an overlap and a stray dtype found among 10,000 slices.
 */
class SliceAgreementTest {
    private static final int RANKS = 10_000;
    private static final long[] SHAPE = {100_000, 40_000};

    private static EntryRecord entry(int rank, DType dt, ShardSpec s) {
        return new EntryRecord("w", true, dt, s.lengths(), s.globalShape(), s.offsets(), false,
                Math.multiplyExact(s.lengths()[0], s.lengths()[1]) * dt.byteSize(), rank, List.of());
    }

    private static List<EntryRecord> ranks(IntFunction<ShardSpec> slice) {
        List<EntryRecord> out = new ArrayList<>(RANKS);
        for (int r = 0; r < RANKS; r++) {
            out.add(entry(r, DType.F32, slice.apply(r)));
        }
        return out;
    }

    private static ShardSpec block(int r) {
        return ShardSpec.of(SHAPE, new long[] {(r / 100) * 1_000L, (r % 100) * 400L}, new long[] {1_000, 400});
    }

    private static void timed(String what, List<EntryRecord> entries) {
        for (int i = 0; i < 5; i++) {
            SliceAgreement.check(1, entries); // warm
        }
        long best = Long.MAX_VALUE;
        for (int i = 0; i < 20; i++) {
            long t0 = System.nanoTime();
            SliceAgreement.check(1, entries);
            best = Math.min(best, System.nanoTime() - t0);
        }
        System.out.printf("SliceAgreement, %,d ranks, %s: %.2f ms (best of 20)%n", RANKS, what, best / 1e6);
    }

    @Test
    void tenThousandWayCutsPassQuickly() {
        timed("rows split", ranks(r -> ShardSpec.split(SHAPE, 0, RANKS, r)));
        timed("columns split", ranks(r -> ShardSpec.split(SHAPE, 1, RANKS, r)));
        timed("100 x 100 grid", ranks(SliceAgreementTest::block));
        timed("every rank whole (replicas)", ranks(r -> ShardSpec.whole(SHAPE)));
        timed("100 x 100 grid, each block on 2 ranks", ranks(r -> block(r / 2 + (r % 2) * (RANKS / 2))));
    }

    @Test
    void aGapAnOverlapAndADtypeAreFoundAmongTenThousandSlices() {
        List<EntryRecord> gap = ranks(SliceAgreementTest::block);
        gap.remove(4_321);
        CheckpointException e = assertThrows(CheckpointException.class, () -> SliceAgreement.check(9, gap));
        assertEquals(CheckpointException.Reason.INVALID_INPUT, e.reason());
        assertTrue(e.getMessage().contains("'w'") && e.getMessage().contains("hold 3999600000 of its 4000000000"),
                e.getMessage());

        List<EntryRecord> overlap = ranks(SliceAgreementTest::block);
        overlap.set(5_000, entry(5_000, DType.F32, ShardSpec.of(SHAPE, new long[] {50_000, 1}, new long[] {1_000, 400})));
        e = assertThrows(CheckpointException.class, () -> SliceAgreement.check(9, overlap));
        assertTrue(e.getMessage().contains("rank 5000 [50000:51000, 1:401]") && e.getMessage().contains("overlapping"),
                e.getMessage());

        List<EntryRecord> dtype = ranks(SliceAgreementTest::block);
        dtype.set(9_999, entry(9_999, DType.BF16, block(9_999)));
        e = assertThrows(CheckpointException.class, () -> SliceAgreement.check(9, dtype));
        assertTrue(e.getMessage().contains("rank 9999 as tensor " + DType.BF16.tag()), e.getMessage());

        // Zero-length slices (a rank with no rows of it) hold nothing and overlap nothing.
        List<EntryRecord> empty = ranks(r -> ShardSpec.split(SHAPE, 0, RANKS, r));
        empty.add(entry(RANKS, DType.F32, ShardSpec.of(SHAPE, new long[] {5, 0}, new long[] {0, 40_000})));
        assertDoesNotThrow(() -> SliceAgreement.check(9, empty));
    }
}
