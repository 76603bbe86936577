package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.TierConfig;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import dev.cairn.tiers.internal.commit.StepMarks;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.restore.StaleIndexCleanUp;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/**
 * A restoring rank's clean-up ({@link StaleIndexCleanUp}) removes its own index of each step after the restored one
 * that never committed, and nothing else, from one listing of the step folders: never a listing of every key under
 * {@code steps/} (every rank's index of every retained step, a LIST page per 1,000 of them, from each of thousands of
 * restoring ranks). And the look for the newest step of a run without marks ({@link StepMarks#newest}) finds it from
 * the step folders, whose names sort "12" before "5".
 */
class StaleIndexCleanUpTest {
    private static final StoreLayout LAYOUT = new StoreLayout("stale");

    /** Shared, not in this process's memory (so a large world's clean-up is paced), counting how it is listed. */
    private static final class CountingStore extends SharedMemoryStore {
        final AtomicInteger stepListings = new AtomicInteger();
        final AtomicInteger folderListings = new AtomicInteger();

        CountingStore(ObjectStore store) {
            super(store);
        }

        @Override
        public List<ObjectInfo> list(String prefix) throws IOException {
            if (LAYOUT.stepsPrefix().startsWith(prefix) || prefix.equals(LAYOUT.stepsPrefix())) {
                stepListings.incrementAndGet();
            }
            return super.list(prefix);
        }

        @Override
        public List<String> listFolders(String prefix) throws IOException {
            folderListings.incrementAndGet();
            return super.listFolders(prefix);
        }
    }

    private static void put(ObjectStore store, String key) throws IOException {
        store.put(key, ByteBuffer.wrap(key.getBytes(StandardCharsets.US_ASCII)));
    }

    @Test
    void theRanksOwnIndexOfAnUncommittedLaterStepGoesAndEverythingElseStays() throws Exception {
        try (RootAllocator allocator = new RootAllocator();
             MemoryObjectStore memory = new MemoryObjectStore(16L << 20)) {
            CountingStore store = new CountingStore(memory);
            List<String> kept = new ArrayList<>();
            for (long step : new long[] {5, 9, 12}) { // committed: 12 after the restored 9, as after a restore of 9 asked for
                put(store, LAYOUT.manifestKey(step));
                kept.add(LAYOUT.manifestKey(step));
                for (int rank = 0; rank < 3; rank++) {
                    put(store, LAYOUT.indexKey(step, rank));
                    kept.add(LAYOUT.indexKey(step, rank));
                }
            }
            for (long step : new long[] {10, 13}) { // failed attempts: indexes, no MANIFEST
                for (int rank = 0; rank < 3; rank++) {
                    put(store, LAYOUT.indexKey(step, rank));
                    if (rank != 1) {
                        kept.add(LAYOUT.indexKey(step, rank));
                    }
                }
            }
            put(store, LAYOUT.indexKey(7, 1)); // before the restored step: not this clean-up's
            kept.add(LAYOUT.indexKey(7, 1));
            put(store, LAYOUT.retiredKey(3));
            kept.add(LAYOUT.retiredKey(3));
            kept.sort(null);

            // Rank 1 of 200 restoring ranks: its reads are paced (RestorePacing), its first slots due at once.
            try (Tier tier = new Tier(TierConfig.of("shared", store), 0, LAYOUT, 1)) {
                StaleIndexCleanUp cleanUp = new StaleIndexCleanUp(null, List.of(tier), new CommitProtocol(allocator), 1,
                        200, Runnable::run, Duration.ofSeconds(60));
                cleanUp.dropOwnStaleIndexes(9, cleanUp.pacedFromNow());
            }
            List<String> left = new ArrayList<>();
            for (ObjectInfo o : memory.list(LAYOUT.run() + "/")) {
                left.add(o.key());
            }
            assertEquals(kept, left, "rank 1's indexes of steps 10 and 13 gone; other ranks', committed steps' and older"
                    + " steps' kept");
            assertEquals(0, store.stepListings.get(), "no listing of every key under the steps");
            assertEquals(1, store.folderListings.get(), "one listing of the step folders");
        }
    }

    @Test
    void aRunWithoutMarksHasItsNewestCommittedStepFoundFromTheStepFolders() throws Exception {
        try (MemoryObjectStore memory = new MemoryObjectStore(16L << 20)) {
            CountingStore store = new CountingStore(memory);
            for (long step : new long[] {5, 12}) { // a release without marks committed these
                put(store, LAYOUT.manifestKey(step));
                put(store, LAYOUT.indexKey(step, 0));
            }
            put(store, LAYOUT.indexKey(20, 0)); // a failed attempt after them
            try (Tier tier = new Tier(TierConfig.of("shared", store), 0, LAYOUT, 1)) {
                for (int rank : new int[] {0, 7, 999}) {
                    assertEquals(12, StepMarks.newest(tier, rank, 1000), "rank " + rank + " of 1,000");
                }
                assertEquals(0, store.stepListings.get(), "no listing of every key under the steps");
            }
        }
        try (MemoryObjectStore empty = new MemoryObjectStore(1 << 20);
             Tier tier = new Tier(TierConfig.of("mem", empty), 0, LAYOUT, 1)) {
            assertEquals(-1, StepMarks.newest(tier, 3, 4), "a new run");
        }
    }
}
