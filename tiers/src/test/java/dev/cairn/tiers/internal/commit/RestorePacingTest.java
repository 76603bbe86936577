package dev.cairn.tiers.internal.commit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** The restoring ranks' schedule of metadata reads ({@link RestorePacing}), counted per second as S3 counts them. */
class RestorePacingTest {
    private static final long SECOND = 1_000_000_000L;

    @Test
    void smallWorldsAreNotPaced() {
        assertFalse(RestorePacing.needed(1));
        assertFalse(RestorePacing.needed(16));
        assertFalse(RestorePacing.needed(125), "125 ranks x 12 slots fit in the burst");
        assertTrue(RestorePacing.needed(126));
        for (int r = 0; r < 125; r++) {
            for (int j = 0; j < RestorePacing.READS_PER_RANK; j++) {
                assertEquals(0, RestorePacing.dueNanos(r, 125, j), "rank " + r + " read " + j);
            }
        }
    }

    /**
     * Every rank sending {@code reads} reads at its slots: in no second more than S3's 5,500 of a prefix, and the first
     * two reads of every rank (the MANIFEST's HEAD and GET, on one key) no more than 1,000 in a second; the last read is
     * due when all the slots used, or owned, after the burst take at 4,000 a second.
     */
    @Test
    void noSecondHasMoreReadsThanThePrefixServesOrMoreManifestReadsThanTheKeyLimit() {
        for (int world : new int[] {126, 500, 1_000, 5_000, 20_000}) {
            for (int reads : new int[] {3, 9, 12, 16}) {
                TreeMap<Long, Integer> perSecond = new TreeMap<>();
                TreeMap<Long, Integer> manifestPerSecond = new TreeMap<>();
                long last = 0;
                for (int r = 0; r < world; r++) {
                    for (int j = 0; j < reads; j++) {
                        long due = RestorePacing.dueNanos(r, world, j);
                        perSecond.merge(due / SECOND, 1, Integer::sum);
                        if (j < 2) {
                            manifestPerSecond.merge(due / SECOND, 1, Integer::sum);
                        }
                        last = Math.max(last, due);
                    }
                }
                String what = world + " ranks of " + reads + " reads: ";
                int busiest = perSecond.values().stream().max(Integer::compare).orElseThrow();
                assertTrue(busiest <= 5_500, what + busiest + " reads in one second");
                int manifest = manifestPerSecond.values().stream().max(Integer::compare).orElseThrow();
                assertTrue(manifest <= 1_000, what + manifest + " MANIFEST reads in one second");
                long slots = (long) world * Math.max(reads, RestorePacing.READS_PER_RANK) - RestorePacing.BURST;
                assertTrue(last <= slots * SECOND / RestorePacing.READS_PER_SECOND + SECOND, what + "last read due after "
                        + last + " ns");
            }
        }
    }

    @Test
    void aRankWaitsOnItsClockForItsSlotsOnly() {
        long[] now = {0};
        WaitClock clock = new WaitClock() {
            @Override
            public long nanoTime() {
                return now[0];
            }

            @Override
            public void pause(long nanos) {
                now[0] += nanos;
            }
        };
        RestorePacing rank1000 = new RestorePacing(clock, 1_000, 5_000);
        rank1000.awaitSlot();
        long first = RestorePacing.dueNanos(1_000, 5_000, 0);
        assertEquals(first, now[0], "its first read waits for its first slot: (12,000 - 1,500) / 4,000 s");
        now[0] += 50_000_000; // the read took 50 ms, past its next slots
        rank1000.awaitSlot();
        assertEquals(first + 50_000_000, now[0], "a read whose slot has passed is sent at once");
    }
}
