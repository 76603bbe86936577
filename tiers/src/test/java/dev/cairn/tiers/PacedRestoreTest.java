package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A restoring rank of a large world waits for its metadata reads' slots ({@code RestorePacing}): the last rank of
 * 5,000 waits (4,999 x 12 - 1,500) / 4,000 = 14.6 s before its first read of the MANIFEST (rank 4,980, whose group of
 * step marks is group 0, which the one-rank job below marks, waits 14.6 s too, and for nothing else: a rank whose group
 * holds no mark first waits its turn to list the groups, {@code LookPacing}). A checkpointer that closes
 * (its thread interrupted) during that wait ends the restore with CLOSED at once, not with a MANIFEST taken for
 * committed-but-unreadable and the wait started again.
 */
class PacedRestoreTest {
    private static final long[] GLOBAL = {10_000, 4};

    /** Memory, but not "in memory" for the engine: its reads are paced as a shared store's. */
    private static final class SharedStore extends SharedMemoryStore {
        /** Counted down by the next listing of a group of step marks once set. */
        volatile CountDownLatch marksListed;

        SharedStore(ObjectStore store) {
            super(store);
        }

        @Override
        public List<ObjectInfo> list(String prefix) throws IOException {
            List<ObjectInfo> listed = super.list(prefix);
            CountDownLatch latch = marksListed;
            if (latch != null && prefix.contains("/marks/")) {
                latch.countDown(); // the restore's last unpaced request: its MANIFEST read is paced
            }
            return listed;
        }
    }

    private static Checkpointer open(ObjectStore store, int rank, int world) {
        return Checkpointer.open(CairnConfig.builder("paced").tier(TierConfig.of("shared", store))
                .chunkBytes(4096).encoderThreads(1).stagingBytes(4L << 20).deadline(Duration.ofSeconds(60))
                .gcSweepEvery(0).rank(rank, world).build());
    }

    private static TrainingState state(int rank, int world, boolean filled) {
        ShardSpec s = ShardSpec.split(GLOBAL, 0, world, rank);
        ByteBuffer w = ByteBuffer.allocateDirect((int) (s.lengths()[0] * GLOBAL[1] * 4)).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; filled && w.hasRemaining(); i++) {
            w.putFloat(i);
        }
        if (filled) {
            w.flip();
        }
        return TrainingState.builder().add(Tensor.sharded("w", DType.F32, s, w)).build();
    }

    @Test
    void aClosingCheckpointerEndsAPacedRestoreWithClosed() throws Exception {
        try (MemoryObjectStore memory = new MemoryObjectStore(64L << 20)) {
            restoreAndClose(new SharedStore(memory), 4_980, "awaitSlot");
        }
    }

    /**
     * Rank 4,999's group of step marks (19 of 20) holds none: it waits (4,999 - 100) / 800 = 6.1 s for its turn to list
     * the groups ({@code LookPacing}), and a close during that wait ends the restore with CLOSED at once too.
     */
    @Test
    void aClosingCheckpointerEndsARestoreWaitingForItsTurnToLookWithClosed() throws Exception {
        try (MemoryObjectStore memory = new MemoryObjectStore(64L << 20)) {
            restoreAndClose(new SharedStore(memory), 4_999, "awaitTurn");
        }
    }

    /** Rank {@code rank} of 5,000 restores and is closed while it waits in {@code waitingIn}. */
    private static void restoreAndClose(SharedStore store, int rank, String waitingIn) throws Exception {
        // Opened before the step exists, so that its open reads no MANIFEST ahead: the restore's read is its first.
        try (Checkpointer last = open(store, rank, 5_000)) {
            try (Checkpointer one = open(store, 0, 1)) {
                one.save(7, state(0, 1, true)).done().get(60, TimeUnit.SECONDS);
            }
            store.marksListed = new CountDownLatch(1);
            Thread[] restoring = new Thread[1];
            CompletableFuture<Throwable> ended = new CompletableFuture<>();
            restoring[0] = new Thread(() -> {
                try {
                    last.restore(RestoreRequest.latest().into(state(rank, 5_000, false)));
                    ended.complete(null);
                } catch (Throwable e) {
                    ended.complete(e);
                }
            }, "restoring-rank-" + rank);
            restoring[0].start();
            assertTrue(store.marksListed.await(60, TimeUnit.SECONDS), "the restore lists its group's step marks");
            restoring[0].interrupt();
            // 5 s: under the 6.1 s and 14.6 s the waits last, far over what an interrupted wait takes.
            Throwable thrown = ended.get(5, TimeUnit.SECONDS);
            if (!(thrown instanceof CheckpointException c)) {
                fail("expected CLOSED, got " + thrown);
                return;
            }
            assertEquals(CheckpointException.Reason.CLOSED, c.reason(), c.getMessage());
            assertTrue(java.util.Arrays.stream(c.getStackTrace()).anyMatch(f -> f.getMethodName().equals(waitingIn)),
                    "closed while it waited in " + waitingIn);
        }
    }
}
