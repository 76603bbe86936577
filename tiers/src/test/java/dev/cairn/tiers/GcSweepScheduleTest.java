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
 * The sweep for orphans (what no manifest names: chunks of a save that died, uncommitted steps) runs on a schedule
 * that restarts cannot postpone: the first collection after a commit of each process sweeps, then every
 * {@code gcSweepEvery}-th commit of it. A job that restarts more often than every {@code gcSweepEvery} commits used to
 * never sweep.
 */
class GcSweepScheduleTest {
    private static final String RUN = "sched";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    /** Says the planted orphans were written long ago, so that no test waits out the grace period. */
    private static final class OldOrphans extends ForwardingObjectStore {
        final Set<String> planted = ConcurrentHashMap.newKeySet();

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
            return delegate.list(prefix).stream().map(this::aged).toList();
        }
    }

    private static TrainingState state(long step) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 20_000, step)).build();
    }

    private static Checkpointer open(OldOrphans store) {
        return Checkpointer.open(smallConfig(RUN).gcSweepEvery(1000).tier(TierConfig.of("mem", store).keepLast(2)).build());
    }

    private static void save(Checkpointer cp, long step) throws Exception {
        cp.save(step, state(step)).done().get(60, TimeUnit.SECONDS);
        // A dry run takes the tier's commit lock, so it starts after the collection that follows this commit.
        cp.gc(true);
    }

    private static boolean stored(MemoryObjectStore mem, String hash) throws IOException {
        return mem.list(LAYOUT.chunksPrefix()).stream().anyMatch(o -> o.key().equals(LAYOUT.chunkKey(hash)));
    }

    @Test
    void aRestartedProcessSweepsAtItsFirstCommitAndNotAgainUntilItsTurn() throws Exception {
        String died = "d1ed0000000000000000000000000001";
        String later = "1a7e0000000000000000000000000002";
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20)) {
            OldOrphans store = new OldOrphans(mem);
            try (Checkpointer cp = open(store)) {
                save(cp, 1);
                save(cp, 2);
            }
            store.plant(died); // as a save that died before the restart leaves it
            try (Checkpointer cp = open(store)) {
                save(cp, 3);
                assertEquals(false, stored(mem, died), "the restarted process's first collection swept the orphan");
                store.plant(later);
                save(cp, 4);
                save(cp, 5);
                assertEquals(true, stored(mem, later), "no sweep after the first until the 1,000th commit");
                assertEquals(List.of(4L, 5L), cp.list().stream().map(c -> c.step()).sorted().toList());
            }
        }
    }
}
