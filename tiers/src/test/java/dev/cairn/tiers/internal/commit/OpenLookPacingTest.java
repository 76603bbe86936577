package dev.cairn.tiers.internal.commit;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/**
 * The open's look in a resumed run ({@link CommitProtocol#newestAtOpen}, as {@code HighestCommitted} makes it): its
 * read of the newest MANIFEST waits for the rank's first slot of the restore's schedule ({@link RestorePacing}) in a
 * world of more than 125 ranks, so that thousands of processes opening at once do not read that one key at once (issue
 * 15), and not at all in a world of up to 125 ranks, in one process, or in a store in this process's memory. The clock
 * moves only when the look waits, so the figures are the waits themselves, whatever the machine's speed.
 */
class OpenLookPacingTest {
    private static final long SECOND = 1_000_000_000L;

    /** A clock that stands still but for the pauses: what a rank waits, on no machine's time. */
    private static final class StoppedClock implements WaitClock {
        volatile long now;

        @Override
        public long nanoTime() {
            return now;
        }

        @Override
        public void pause(long nanos) {
            now += nanos;
        }
    }

    /** Memory, but not "in memory" for the engine unless told; notes the clock at the MANIFEST's first request. */
    private static final class SharedStore extends ForwardingObjectStore {
        private final StoppedClock clock;
        private final boolean inMemory;
        long manifestAskedAt = -1;
        int manifestRequests;

        SharedStore(ObjectStore store, StoppedClock clock, boolean inMemory) {
            super(store);
            this.clock = clock;
            this.inMemory = inMemory;
        }

        @Override
        public boolean inMemory() {
            return inMemory;
        }

        private void asked(String key) {
            if (key.endsWith("/MANIFEST")) {
                if (manifestRequests++ == 0) {
                    manifestAskedAt = clock.nanoTime();
                }
            }
        }

        @Override
        public ObjectInfo stat(String key) throws IOException {
            asked(key);
            return super.stat(key);
        }

        @Override
        public int read(String key, long offset, ByteBuffer dst) throws IOException {
            asked(key);
            return super.read(key, offset, dst);
        }

        @Override
        public void close() {
            // the test's memory store: closed by the test
        }
    }

    /** Step 7 saved by one process of run "look": its marks are in group 0. */
    private static void saveOneStep(ObjectStore memory) throws Exception {
        try (Checkpointer one = Checkpointer.open(CairnConfig.builder("look").tier(TierConfig.of("shared", memory))
                .chunkBytes(4096).encoderThreads(1).stagingBytes(4L << 20).deadline(Duration.ofSeconds(60))
                .gcSweepEvery(0).rank(0, 1).build())) {
            ByteBuffer w = ByteBuffer.allocateDirect(64);
            while (w.hasRemaining()) {
                w.put((byte) w.position());
            }
            w.flip();
            one.save(7, TrainingState.builder().add(Tensor.of("w", DType.U8, new long[] {64}, w)).build()).done()
                    .get(60, TimeUnit.SECONDS);
        }
    }

    /** Rank {@code rank} of {@code world} looks at open; the clock when it first asked the MANIFEST. */
    private static SharedStore look(ObjectStore memory, int rank, int world, boolean inMemory) throws IOException {
        StoppedClock clock = new StoppedClock();
        SharedStore store = new SharedStore(memory, clock, inMemory);
        try (BufferAllocator allocator = new RootAllocator();
             Tier tier = new Tier(TierConfig.of("shared", store), 0, new StoreLayout("look"), 1)) {
            CommitProtocol commits = new CommitProtocol(allocator, null, Duration.ofSeconds(60), clock, null);
            assertEquals(7, commits.newestAtOpen(tier, rank, world), "rank " + rank + " of " + world);
            assertEquals(7, commits.readGlobal(tier, 7).step(), "kept for the restore");
            assertEquals(2, store.manifestRequests, "its HEAD and GET, once: the restore takes it from the cache");
        }
        return store;
    }

    @Test
    void aHighRankOfALargeWorldReadsTheManifestInItsSlotAndNoEarlier() throws Exception {
        try (MemoryObjectStore memory = new MemoryObjectStore(16L << 20)) {
            saveOneStep(memory);
            // Rank 9,960's group of marks (9,960 mod 40) is group 0, which the one process marked: nothing else waits.
            assertEquals((12L * 9_960 - 1_500) * SECOND / 4_000, look(memory, 9_960, 10_000, false).manifestAskedAt,
                    "(12 x 9,960 - 1,500) / 4,000 s: its first slot of the restore's schedule");
            assertEquals((12L * 1_000 - 1_500) * SECOND / 4_000, look(memory, 1_000, 2_000, false).manifestAskedAt);
            // Rank 120's group (120 mod 8) is group 0 too; its slots are in the burst of 1,500.
            assertEquals(0, look(memory, 120, 2_000, false).manifestAskedAt, "in the burst: at once");
        }
    }

    @Test
    void smallWorldsOneProcessAndAStoreInMemoryDoNotWait() throws Exception {
        try (MemoryObjectStore memory = new MemoryObjectStore(16L << 20)) {
            saveOneStep(memory);
            assertEquals(0, look(memory, 0, 1, false).manifestAskedAt, "one process");
            assertEquals(0, look(memory, 124, 125, false).manifestAskedAt, "125 ranks: every slot in the burst");
            assertEquals(0, look(memory, 9_960, 10_000, true).manifestAskedAt, "a store in this process's memory");
        }
    }
}
