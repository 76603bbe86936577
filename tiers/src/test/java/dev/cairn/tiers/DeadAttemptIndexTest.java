package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.Blob;
import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Ranks meeting through the store after an attempt that died before its MANIFEST: ranks 1 and 2 of that attempt wrote
 * their indexes of step 1, its rank 0 never committed. What those indexes must not do to the next attempt's step 1.
 */
class DeadAttemptIndexTest {
    private static final long[] GLOBAL = {64, 300};
    /** What the dead attempt saved: values of another step, so that its rows are told apart from this attempt's. */
    private static final long DEAD = 99;
    private final MemoryObjectStore store = new MemoryObjectStore(256L << 20);
    private final StoreLayout layout = new StoreLayout("ranks");

    @AfterEach
    void close() {
        store.close();
    }

    private static TrainingState state(int r, int world, long step) {
        ShardSpec s = ShardSpec.split(GLOBAL, 0, world, r);
        ByteBuffer w = ByteBuffer.allocateDirect((int) (s.lengths()[0] * GLOBAL[1] * 4)).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; w.hasRemaining(); i++) {
            w.putFloat((float) (step * 65536 + s.offsets()[0] * GLOBAL[1] + i)); // as MultiRankTest: no chunk of two steps alike
        }
        return TrainingState.builder()
                .add(Tensor.sharded("w", DType.F32, s, w.flip()))
                .add(Blob.perRank("rng", new byte[] {(byte) r, (byte) step}))
                .build();
    }

    private static Checkpointer rank(ObjectStore store, int r, Duration deadline) {
        return rank(store, r, 3, deadline);
    }

    private static Checkpointer rank(ObjectStore store, int r, int world, Duration deadline) {
        return Checkpointer.open(CairnConfig.builder("ranks").tier(TierConfig.of("shared", store).keepLast(3)).chunkBytes(4096)
                .encoderThreads(1).stagingBytes(4L << 20).deadline(deadline).rank(r, world).build());
    }

    /**
     * Ranks 1 and 2 of a dead attempt save step 1 and, with no rank 0, wait for a MANIFEST that never comes; once both
     * indexes are in the store the attempt dies (its ranks closed, their saves failed): the indexes stay behind. Closed
     * rather than left to a deadline short enough to end the test, which a busy machine could also reach before an
     * index was put (the save then expires before its commit and writes none).
     */
    private void deadAttemptLeavesIndexesOfStepOne() throws Exception {
        List<Checkpointer> dead = List.of(rank(store, 1, Duration.ofSeconds(60)), rank(store, 2, Duration.ofSeconds(60)));
        try {
            List<CheckpointHandle> handles = new ArrayList<>();
            for (int r = 1; r <= 2; r++) {
                handles.add(dead.get(r - 1).save(1, state(r, 3, DEAD)));
            }
            for (int r = 1; r <= 2; r++) {
                Fixtures.awaitKey(store, layout.indexKey(1, r));
            }
            dead.forEach(Fixtures::closeWithoutWaiting);
            for (CheckpointHandle h : handles) {
                // 60 s only bounds a hang: the close failed the save.
                ExecutionException e = assertThrows(ExecutionException.class, () -> h.done().get(60, TimeUnit.SECONDS));
                assertEquals(Reason.CLOSED, ((CheckpointException) e.getCause()).reason(), e.getCause().getMessage());
            }
        } finally {
            dead.forEach(Checkpointer::close);
        }
        for (int r = 1; r <= 2; r++) {
            assertTrue(store.stat(layout.indexKey(1, r)).size() > 0, "the dead attempt's index of rank " + r);
        }
    }

    /** A view of the shared store that this attempt's rank closes without closing the store. */
    private class View extends ForwardingObjectStore {
        View() {
            super(store);
        }

        @Override
        public void close() {
            // the test's store, closed after the test
        }
    }

    /**
     * Rank 0 reads the dead attempt's indexes of ranks 1 and 2 (they are there before this attempt's), and ranks 1 and
     * 2 put theirs over them before rank 0 creates the MANIFEST: the MANIFEST commits the dead attempt's indexes, and
     * its commit notice names their digests. Ranks 1 and 2 must not take the MANIFEST for the commit of their own
     * indexes: their saves fail with CONFLICT instead of reporting a step that their restore refuses as CORRUPT.
     */
    @Test
    void aRankWhoseIndexTheManifestDoesNotCommitFailsItsSaveInsteadOfReportingItCommitted() throws Exception {
        deadAttemptLeavesIndexesOfStepOne();
        CountDownLatch rankZeroAtManifest = new CountDownLatch(1);
        CountDownLatch indexesReplaced = new CountDownLatch(2);
        ObjectStore rankZeros = new View() {
            @Override
            public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
                if (key.equals(layout.manifestKey(1))) {
                    // Every index read: rank 0 creates the MANIFEST once ranks 1 and 2 have put theirs over the dead
                    // attempt's. 60 s only bounds a hang.
                    rankZeroAtManifest.countDown();
                    await(indexesReplaced);
                }
                return super.putIfAbsent(key, data);
            }
        };
        List<Checkpointer> ranks = new ArrayList<>();
        ranks.add(rank(rankZeros, 0, Duration.ofSeconds(60)));
        for (int r = 1; r <= 2; r++) {
            String ownIndex = layout.indexKey(1, r);
            ranks.add(rank(new View() {
                @Override
                public void put(String key, ByteBuffer data) throws IOException {
                    boolean index = key.equals(ownIndex);
                    if (index) {
                        await(rankZeroAtManifest); // rank 0 has read the dead attempt's index of this rank
                    }
                    super.put(key, data);
                    if (index) {
                        indexesReplaced.countDown();
                    }
                }
            }, r, Duration.ofSeconds(60)));
        }
        try {
            List<CheckpointHandle> handles = new ArrayList<>();
            for (int r = 0; r < 3; r++) {
                handles.add(ranks.get(r).save(1, state(r, 3, 1)));
            }
            assertEquals(1, handles.get(0).done().get(120, TimeUnit.SECONDS).get(0).step(), "rank 0 committed step 1");
            for (int r = 1; r <= 2; r++) {
                int rank = r;
                ExecutionException e = assertThrows(ExecutionException.class,
                        () -> handles.get(rank).done().get(120, TimeUnit.SECONDS), "rank " + r + "'s save");
                CheckpointException c = (CheckpointException) e.getCause();
                assertEquals(Reason.CONFLICT, c.reason(), c.getMessage());
                assertTrue(c.getMessage().contains("step 1 was committed") && c.getMessage().contains("another index of rank "
                        + r), c.getMessage());
            }
        } finally {
            ranks.forEach(Checkpointer::close);
        }
    }

    /**
     * The next attempt's ranks each restore the latest step before their first save and find none committed: ranks 1
     * and 2 remove the dead attempt's indexes they left, so that rank 0 does not find them and commit the dead
     * attempt's rows as this attempt's step 1.
     */
    @Test
    void aRestoreThatFindsNothingCommittedRemovesTheRanksIndexesOfTheDeadAttempt() throws Exception {
        deadAttemptLeavesIndexesOfStepOne();
        List<Checkpointer> ranks = new ArrayList<>();
        for (int r = 0; r < 3; r++) {
            ranks.add(rank(new View(), r, Duration.ofSeconds(60)));
        }
        try {
            for (Checkpointer cp : ranks) {
                CheckpointException e = assertThrows(CheckpointException.class, () -> cp.restore(RestoreRequest.latest()));
                assertEquals(Reason.NOT_FOUND, e.reason(), e.getMessage());
            }
            for (int r = 1; r <= 2; r++) {
                String key = layout.indexKey(1, r);
                assertThrows(NoSuchFileException.class, () -> store.stat(key), "the dead attempt's index of rank " + r);
            }
            List<CheckpointHandle> handles = new ArrayList<>();
            for (int r = 0; r < 3; r++) {
                handles.add(ranks.get(r).save(1, state(r, 3, 1)));
            }
            for (CheckpointHandle h : handles) {
                assertEquals(1, h.done().get(120, TimeUnit.SECONDS).get(0).step());
            }
            Tensor w = ranks.get(2).restore(RestoreRequest.latest()).state().tensor("w");
            assertEquals(ReshardingProperties.concat(state(2, 3, 1).tensor("w")), ReshardingProperties.concat(w),
                    "rank 2's rows of step 1 are this attempt's");
        } finally {
            ranks.forEach(Checkpointer::close);
        }
    }

    /**
     * A restore made after the rank's first save (a rewind, a check) removes no index: the one there may be that save's,
     * waiting for rank 0. Rank 1 of 2 saves step 1 and, while its index waits for rank 0, restores (nothing committed);
     * then both save step 1, and rank 1 saves step 2 and restores again (step 1 chosen). Each index stays, and rank 0
     * commits each step with it.
     */
    @Test
    void aRestoreAfterTheRanksFirstSaveLeavesTheIndexOfThatSaveWaitingForItsManifest() throws Exception {
        List<CountDownLatch> indexed = List.of(new CountDownLatch(1), new CountDownLatch(1), new CountDownLatch(1));
        ObjectStore rankOnes = new View() {
            @Override
            public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
                boolean created = super.putIfAbsent(key, data);
                for (long step = 1; step <= 2; step++) {
                    if (created && key.equals(layout.indexKey(step, 1))) {
                        indexed.get((int) step).countDown();
                    }
                }
                return created;
            }
        };
        try (Checkpointer zero = rank(new View(), 0, 2, Duration.ofSeconds(60));
             Checkpointer one = rank(rankOnes, 1, 2, Duration.ofSeconds(60))) {
            for (long step = 1; step <= 2; step++) {
                CheckpointHandle waiting = one.save(step, state(1, 2, step));
                // 60 s only bounds a hang: the index lands once rank 1's chunks are written.
                assertTrue(indexed.get((int) step).await(60, TimeUnit.SECONDS), "rank 1's index of step " + step);
                if (step == 1) {
                    CheckpointException e = assertThrows(CheckpointException.class, () -> one.restore(RestoreRequest.latest()));
                    assertEquals(Reason.NOT_FOUND, e.reason(), e.getMessage());
                } else {
                    assertEquals(1, one.restore(RestoreRequest.latest()).step());
                }
                assertTrue(store.stat(layout.indexKey(step, 1)).size() > 0, "rank 1's index of step " + step + " stays");
                assertEquals(step, zero.save(step, state(0, 2, step)).done().get(120, TimeUnit.SECONDS).get(0).step());
                assertEquals(step, waiting.done().get(120, TimeUnit.SECONDS).get(0).step());
            }
            Tensor w = one.restore(RestoreRequest.latest()).state().tensor("w");
            assertEquals(ReshardingProperties.concat(state(1, 2, 2).tensor("w")), ReshardingProperties.concat(w));
        }
    }

    private static void await(CountDownLatch latch) throws IOException {
        try {
            if (!latch.await(60, TimeUnit.SECONDS)) {
                throw new IOException("test: latch not reached in 60 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("test: interrupted");
        }
    }
}
