package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A multi-rank promotion out of a tier in memory that takes longer than the fast tier keeps its steps. Rank 0 collects
 * as an outsider: it cannot see the other ranks' pins, and in a tier in memory the chunks only a retired step named go
 * at its next collection. Each rank promotes its own slice, reading its chunks from the fast tier; rank 0 must not
 * retire the step there while its own promotion of that step is in flight (which, through the slower tier's
 * multi-rank commit, lasts until every rank has copied its slice), or rank 1's copy finds its chunks deleted and the
 * slower tier never gets the step. Before rank 0 held such steps, rank 1's promotion failed with STORAGE
 * (NoSuchFileException on one of its chunks in the fast tier) and rank 0's waited out its deadline: a slower tier
 * slower than keepLast + 1 fast steps would never have received a checkpoint.
 */
class PromotionBesideRetirementTest {
    private static final String RUN = "promote-retire";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);
    private static final long[] GLOBAL = {64, 300};
    private static final long WAIT_S = 60; // bounds a hang; every wait below ends on an event

    private final MemoryObjectStore fast = new MemoryObjectStore(256L << 20);
    private final MemoryObjectStore slow = new MemoryObjectStore(256L << 20);
    /** Opened when each rank's first chunk put into the slower tier has arrived (its promotion is in flight). */
    private final CountDownLatch copying = new CountDownLatch(2);
    /** The ranks' chunk puts into the slower tier wait for this. */
    private final CountDownLatch releaseCopies = new CountDownLatch(1);
    /** Opened when rank 0's collection deletes step 5's MANIFEST from the fast tier (retires step 5 there). */
    private final CountDownLatch stepFiveRetired = new CountDownLatch(1);
    /** A permit each time one of rank 0's collections begins (asks its clock, once per retirement). */
    private final Semaphore rankZeroCollections = new Semaphore(0);
    private final List<Checkpointer> ranks = new ArrayList<>();
    /** Every rank's chunk puts into the slower tier fail while set. */
    private volatile boolean failCopies;

    @AfterEach
    void close() {
        releaseCopies.countDown();
        ranks.forEach(Checkpointer::close);
        fast.close();
        slow.close();
    }

    /** Rank r's state at {@code step}: its row slice of "w" (content of no other rank or step) and a small blob. */
    private static TrainingState state(int r, long step) {
        ShardSpec s = ShardSpec.split(GLOBAL, 0, 2, r);
        ByteBuffer w = ByteBuffer.allocateDirect((int) (s.lengths()[0] * GLOBAL[1] * 4)).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; w.hasRemaining(); i++) {
            w.putFloat((float) (step * 65536 + s.offsets()[0] * GLOBAL[1] + i));
        }
        return TrainingState.builder().add(Tensor.sharded("w", DType.F32, s, w.flip()))
                .add(dev.cairn.Blob.perRank("rng", new byte[] {(byte) r, (byte) step})).build();
    }

    /** A view of {@code store} that this rank's checkpointer closes without closing the store. */
    private static class View extends ForwardingObjectStore {
        private final boolean inMemory;

        View(ObjectStore store, boolean inMemory) {
            super(store);
            this.inMemory = inMemory;
        }

        @Override
        public boolean inMemory() {
            return inMemory;
        }

        @Override
        public void close() {
        }
    }

    /**
     * Rank r: the fast tier in memory (every step, keepLast 2), the slower one taken for object storage (every 5th
     * step). The ranks' chunk puts into the slower tier (a slow S3) wait for {@link #releaseCopies}, or fail while
     * {@link #failCopies}; rank 0's collections are told by its GC clock, and its deletes of step 5's MANIFEST from the fast tier are watched.
     */
    private Checkpointer open(int r) {
        ObjectStore fastView = r != 0 ? new View(fast, true) : new View(fast, true) {
            @Override
            public void delete(String key) throws IOException {
                super.delete(key);
                if (key.equals(LAYOUT.manifestKey(5))) {
                    stepFiveRetired.countDown();
                }
            }
        };
        java.util.concurrent.atomic.AtomicBoolean arrived = new java.util.concurrent.atomic.AtomicBoolean();
        ObjectStore slowView = new View(slow, false) {
            @Override
            public void put(String key, ByteBuffer data) throws IOException {
                gate(key);
                super.put(key, data);
            }

            @Override
            public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
                gate(key);
                return super.putIfAbsent(key, data);
            }

            private void gate(String key) throws IOException {
                if (!key.startsWith(LAYOUT.chunksPrefix())) {
                    return;
                }
                if (failCopies) {
                    throw new IOException("a copy into the slower tier fails (the test)");
                }
                if (arrived.compareAndSet(false, true)) {
                    copying.countDown();
                }
                try {
                    if (!releaseCopies.await(WAIT_S, TimeUnit.SECONDS)) {
                        throw new IOException("the test never released the copies");
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException(e);
                }
            }
        };
        AtomicLong last = new AtomicLong();
        // Strictly increasing, so that what a retirement left due "at the next collection" is due at the next one.
        LongSupplier clock = () -> {
            if (r == 0) {
                rankZeroCollections.release();
            }
            return last.updateAndGet(t -> Math.max(t + 1, System.currentTimeMillis()));
        };
        CairnConfig config = CairnConfig.builder(RUN).tier(TierConfig.of("fast", fastView).keepLast(2))
                .tier(TierConfig.of("slow", slowView).everySteps(5).keepLast(2)).chunkBytes(4096).encoderThreads(1)
                .stagingBytes(4L << 20).deadline(Duration.ofSeconds(60)).gcGrace(Duration.ofMinutes(10))
                .gcSweepEvery(0).rank(r, 2).build();
        return new CairnCheckpointer(config, clock);
    }

    /** Saves {@code step} on both ranks; returns once it committed in the fast tier and rank 0's collection after it began. */
    private List<CheckpointHandle> saveFast(long step) throws Exception {
        List<CheckpointHandle> handles = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            handles.add(ranks.get(r).save(step, state(r, step)));
        }
        for (CheckpointHandle h : handles) {
            h.committed("fast").get(WAIT_S, TimeUnit.SECONDS);
        }
        // One collection per commit, each begun before the next commit: none serves two commits, and the one after
        // step k began only once the one after step k-1 ended (rank 0 collects on one thread).
        assertTrue(rankZeroCollections.tryAcquire(WAIT_S, TimeUnit.SECONDS), "rank 0 collected after step " + step);
        return handles;
    }

    @Test
    void aSlowPromotionOutlivesRankZerosRetentionOfTheFastTier() throws Exception {
        for (int r = 0; r < 2; r++) {
            ranks.add(open(r));
        }
        List<CheckpointHandle> five = saveFast(5); // promoted to the slower tier too
        assertTrue(copying.await(WAIT_S, TimeUnit.SECONDS), "both ranks began copying step 5 into the slower tier");
        // keepLast + 2 more steps in the fast tier: without a hold, rank 0 retires step 5 after step 7 and deletes the
        // chunks only it named but has not pinned itself (rank 1's slice) at its collection after step 8, which ended
        // before the one after step 9 began.
        for (long step = 6; step <= 9; step++) {
            saveFast(step);
        }
        // A sweep too (as every gcSweepEvery commits) retires what is beyond keepLast; the collection after step 11
        // deletes what only those steps named, and ended before the one after step 12 began.
        ranks.get(0).gc(false);
        rankZeroCollections.drainPermits(); // the sweep's, and the collection's after step 9 (the sweep waited for it)
        saveFast(11);
        saveFast(12);
        boolean retiredWhilePromoted = stepFiveRetired.getCount() == 0;
        releaseCopies.countDown();
        for (int r = 1; r >= 0; r--) {
            try {
                five.get(r).committed("slow").get(WAIT_S, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                throw new AssertionError("rank " + r + "'s promotion of step 5 failed (step 5 was "
                        + (retiredWhilePromoted ? "" : "not ") + "retired from the fast tier meanwhile): " + e.getCause(),
                        e.getCause());
            }
        }
        assertTrue(!retiredWhilePromoted, "the fast tier held step 5 while it was being promoted");
        assertTrue(slow.stat(LAYOUT.manifestKey(5)).size() > 0, "the slower tier committed step 5");
        // Promoted: the hold is gone, and rank 0's next collection retires step 5 in the fast tier.
        saveFast(13);
        assertTrue(stepFiveRetired.await(WAIT_S, TimeUnit.SECONDS), "step 5 retired from the fast tier once promoted");
        for (int r = 0; r < 2; r++) {
            RestoreResult res = ranks.get(r).restore(RestoreRequest.step(5));
            assertEquals("slow", res.tier());
            assertEquals(r, res.state().blob("rng").toByteArray()[0]);
            assertEquals(5, res.state().blob("rng").toByteArray()[1]);
        }
    }

    /**
     * A promotion that fails releases its hold: the fast tier retires the step at the next collection, as
     * it would have without the promotion.
     */
    @Test
    void aFailedPromotionLetsTheFastTierRetireTheStep() throws Exception {
        for (int r = 0; r < 2; r++) {
            ranks.add(open(r));
        }
        failCopies = true;
        List<CheckpointHandle> five = saveFast(5);
        for (CheckpointHandle h : five) {
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> h.committed("slow").get(WAIT_S, TimeUnit.SECONDS));
            assertEquals(CheckpointException.Reason.STORAGE, ((CheckpointException) e.getCause()).reason());
        }
        saveFast(6);
        saveFast(7); // keepLast 2: the collection after step 7 retires step 5
        assertTrue(stepFiveRetired.await(WAIT_S, TimeUnit.SECONDS), "step 5 retired from the fast tier");
        assertThrows(NoSuchFileException.class, () -> fast.stat(LAYOUT.manifestKey(5)));
    }
}
