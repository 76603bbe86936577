package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The sweep for orphans (what no manifest names: chunks of a save that died, uncommitted steps) runs once
 * {@code gcSweepEvery} commits were counted in the tier since the last sweep, whichever processes made them: the count
 * is kept in the tier ({@code <run>/gc/SWEEP}), so a job that restarts more often than that still sweeps, and no
 * process's first commit lists every chunk (each process's first commit used to sweep).
 */
class GcSweepScheduleTest {
    private OldOrphans store;
    private static final String RUN = "sched";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    /** Says the planted orphans were written long ago, so that no test waits out the grace period. */
    private static final class OldOrphans extends ForwardingObjectStore {
        final Set<String> planted = ConcurrentHashMap.newKeySet();
        /** Listings of the chunk prefix: the sweeps, and the test's own dry runs. */
        final java.util.concurrent.atomic.AtomicInteger chunkListings = new java.util.concurrent.atomic.AtomicInteger();
        /** The test's dry runs, one listing of the chunks each. */
        int dryRuns;

        /** Listings of the chunks by sweeps. */
        int sweeps() {
            return chunkListings.get() - dryRuns;
        }

        OldOrphans(MemoryObjectStore delegate) {
            super(delegate);
        }

        void plant(String hash) throws IOException {
            String key = LAYOUT.chunkKey(hash);
            delegate.put(key, ByteBuffer.wrap(new byte[] {7, 7, 7}));
            planted.add(key);
        }

        private ObjectInfo aged(ObjectInfo o) {
            return planted.contains(o.key()) ? new ObjectInfo(o.key(), o.size(), Instant.EPOCH) : o;
        }

        @Override
        public ObjectInfo stat(String key) throws IOException {
            return aged(delegate.stat(key));
        }

        @Override
        public List<ObjectInfo> list(String prefix) throws IOException {
            if (prefix.startsWith(LAYOUT.chunksPrefix())) {
                chunkListings.incrementAndGet();
            }
            return delegate.list(prefix).stream().map(this::aged).toList();
        }
    }

    private static TrainingState state(long step) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 20_000, step)).build();
    }

    private static Checkpointer open(OldOrphans store, int sweepEvery) {
        return Checkpointer.open(smallConfig(RUN).gcSweepEvery(sweepEvery).tier(TierConfig.of("mem", store).keepLast(2))
                .build());
    }

    private void save(Checkpointer cp, long step) throws Exception {
        cp.save(step, state(step)).done().get(60, TimeUnit.SECONDS);
        // A dry run takes the tier's commit lock, so it starts after the collection that follows this commit; its own
        // listing is not a sweep.
        cp.gc(true);
        store.dryRuns++;
    }

    private static boolean stored(MemoryObjectStore mem, String hash) throws IOException {
        return mem.list(LAYOUT.chunksPrefix()).stream().anyMatch(o -> o.key().equals(LAYOUT.chunkKey(hash)));
    }

    /**
     * Every 4 commits, each process counting one ahead ({@code max(1, 4 / 10)}): a process that commits once and
     * stops adds 2 to the tier's count, so the third such process sweeps; the first two list no chunk.
     */
    @Test
    void aJobThatRestartsAfterEveryCommitStillSweepsAndFindsTheOrphan() throws Exception {
        String died = "d1ed0000000000000000000000000001";
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20)) {
            store = new OldOrphans(mem);
            store.plant(died); // as a save that died before the job's first process leaves it
            for (int process = 1; process <= 2; process++) {
                try (Checkpointer cp = open(store, 4)) {
                    save(cp, process);
                }
                assertEquals(true, stored(mem, died), "process " + process + " of 2: no sweep yet");
                assertEquals(0, store.sweeps(), "no first commit lists the chunks");
            }
            try (Checkpointer cp = open(store, 4)) {
                save(cp, 3);
                assertEquals(false, stored(mem, died), "the third process's collection swept the orphan");
                assertEquals(1, store.sweeps(), "one sweep");
                assertEquals(List.of(2L, 3L), cp.list().stream().map(c -> c.step()).sorted().toList());
            }
        }
    }

    @Test
    void aLongRunningProcessSweepsEveryNCommitsAndAnExplicitSweepStartsTheCountAgain() throws Exception {
        String first = "f1750000000000000000000000000001";
        String second = "5ec00000000000000000000000000002";
        String third = "7b1d0000000000000000000000000003";
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20)) {
            store = new OldOrphans(mem);
            store.plant(first);
            try (Checkpointer cp = open(store, 4)) {
                for (long step = 1; step <= 3; step++) {
                    save(cp, step);
                }
                assertEquals(true, stored(mem, first), "3 commits of 4");
                save(cp, 4);
                assertEquals(false, stored(mem, first), "swept at the 4th commit");
                store.plant(second);
                for (long step = 5; step <= 7; step++) {
                    save(cp, step);
                }
                assertEquals(true, stored(mem, second), "3 commits since the sweep");
                cp.gc(false); // an explicit sweep: found, and the count starts again
                assertEquals(false, stored(mem, second));
                store.plant(third);
                for (long step = 8; step <= 10; step++) {
                    save(cp, step);
                }
                assertEquals(true, stored(mem, third), "3 commits since the explicit sweep");
                save(cp, 11);
                assertEquals(false, stored(mem, third), "the 4th commit since the explicit sweep");
                assertEquals(3, store.sweeps(), "three sweeps, each one listing of the chunks");
            }
        }
    }

    /** Without a marker the tier starts counting; one this release cannot read counts as none, never fails a save. */
    @Test
    void anUnreadableMarkerStartsTheCountAgain() throws Exception {
        String died = "d1ed0000000000000000000000000004";
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20)) {
            store = new OldOrphans(mem);
            mem.put(LAYOUT.sweepKey(), ByteBuffer.wrap("not a count".getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
            store.plant(died);
            try (Checkpointer cp = open(store, 2)) {
                save(cp, 1);
                assertEquals(true, stored(mem, died), "counting from 0: 1 commit of 2");
                save(cp, 2);
                assertEquals(false, stored(mem, died), "swept at the 2nd commit");
            }
        }
    }
}
